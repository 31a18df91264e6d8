//! Reading a parquet file (the format the Hugging Face hub stores datasets in) into a [`Table`]
//! of text cells: strings as they are, integers and booleans printed, nulls as `None`.
//!
//! Only flat columns of text, integers and booleans can be asked for; a column of any other
//! type (floats, dates, lists, ...) may be present, but asking for it names what it holds.
//! Pages may be uncompressed, snappy or gzip, which is what pandas/pyarrow and the hub write.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::error::{DatasetError, Result};
use super::table::{At, Table};

/// The 4 bytes a parquet file starts and ends with.
const MAGIC: &[u8; 4] = b"PAR1";

/// Reads every row of the parquet file `path`.
///
/// Errors (all user-fixable: [`spillover_errors::UserFixable`]) name the file: not a parquet file, truncated or
/// damaged, compressed with a codec this build does not read, or a row that cannot be decoded.
pub(crate) fn read_parquet(path: &Path) -> Result<Table> {
    check_magic(path)?;
    let file = File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(|e| damaged(path, &e.to_string()))?;
    check_codecs(path, &reader)?;
    let headers: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let mut not_text: Vec<Option<String>> = vec![None; headers.len()];
    let mut rows = Vec::new();
    let iter = reader
        .get_row_iter(None)
        .map_err(|e| damaged(path, &e.to_string()))?;
    for (i, row) in iter.enumerate() {
        let at = At::Row(i + 1);
        let row = row.map_err(|e| {
            at.error(
                path,
                format!("cannot be decoded ({e}); the file is damaged"),
            )
        })?;
        let mut cells = vec![None; headers.len()];
        for (c, (_, field)) in row.get_column_iter().enumerate().take(headers.len()) {
            match cell_text(field) {
                Ok(text) => cells[c] = text,
                Err(kind) => {
                    not_text[c].get_or_insert_with(|| kind.to_string());
                }
            }
        }
        rows.push((at, cells));
    }
    Ok(Table {
        path: path.to_path_buf(),
        headers,
        not_text,
        header_line: None,
        rows,
    })
}

/// A parquet file starts and ends with `PAR1`; anything else is not parquet or was cut short.
fn check_magic(path: &Path) -> Result<()> {
    let mut file = File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| DatasetError::io(path, e))?
        .len();
    let mut head = [0u8; 4];
    let mut tail = [0u8; 4];
    let read = |file: &mut File, at: SeekFrom, buf: &mut [u8; 4]| -> std::io::Result<()> {
        file.seek(at)?;
        file.read_exact(buf)
    };
    if len < 12 || read(&mut file, SeekFrom::Start(0), &mut head).is_err() || &head != MAGIC {
        return Err(DatasetError::bad_file(
            path,
            "not a parquet file (it does not start with the `PAR1` marker)",
        ));
    }
    read(&mut file, SeekFrom::End(-4), &mut tail).map_err(|e| DatasetError::io(path, e))?;
    if &tail != MAGIC {
        return Err(damaged(path, "no `PAR1` marker at the end"));
    }
    Ok(())
}

/// The error for a file that looks like parquet but cannot be read.
fn damaged(path: &Path, cause: &str) -> DatasetError {
    DatasetError::bad_file(
        path,
        format!("truncated or damaged parquet file ({cause}); download or write it again"),
    )
}

/// Fails when a column chunk uses a codec this build cannot decompress.
fn check_codecs(path: &Path, reader: &SerializedFileReader<File>) -> Result<()> {
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let codec = column.compression();
            if !matches!(
                codec,
                Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::GZIP(_)
            ) {
                return Err(DatasetError::bad_file(
                    path,
                    format!(
                        "column `{}` is compressed with {codec}, which Spillover does not read; \
                         it reads uncompressed, snappy and gzip parquet: re-save the file with one \
                         of those (e.g. pandas `df.to_parquet(path, compression=\"snappy\")`) or \
                         as JSONL/CSV",
                        column.column_path().string()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A value as text (`None` for null), or what kind of value it is when it has no text form.
fn cell_text(field: &Field) -> std::result::Result<Option<String>, &'static str> {
    Ok(Some(match field {
        Field::Null => return Ok(None),
        Field::Str(s) => s.clone(),
        Field::Bool(v) => v.to_string(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        Field::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => s.to_string(),
            Err(_) => return Err("binary data that is not UTF-8 text"),
        },
        Field::Float16(_) | Field::Float(_) | Field::Double(_) => {
            return Err("floating-point numbers")
        }
        Field::Decimal(_) => return Err("decimal numbers"),
        Field::Date(_) => return Err("dates"),
        Field::TimeMillis(_) | Field::TimeMicros(_) => return Err("times of day"),
        Field::TimestampMillis(_) | Field::TimestampMicros(_) => return Err("timestamps"),
        Field::Group(_) => return Err("nested records (structs)"),
        Field::ListInternal(_) => return Err("lists"),
        Field::MapInternal(_) => return Err("maps"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillover_errors::UserFixable;

    #[test]
    fn text_files_and_short_files_are_not_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("x.parquet");
        std::fs::write(&csv, "id,prompt\n1,hello there, how are you\n").unwrap();
        let err = read_parquet(&csv).unwrap_err().to_string();
        assert!(
            err.contains("x.parquet") && err.contains("not a parquet file"),
            "{err}"
        );
        std::fs::write(&csv, "PAR1").unwrap();
        let err = read_parquet(&csv).unwrap_err();
        assert!(err.to_string().contains("not a parquet file") && err.user_can_fix());
    }

    #[test]
    fn a_file_cut_short_is_called_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.parquet");
        std::fs::write(
            &path,
            b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02\x15\x00\x12\x00\x00",
        )
        .unwrap();
        let err = read_parquet(&path).unwrap_err().to_string();
        assert!(
            err.contains("truncated or damaged") && err.contains("cut.parquet"),
            "{err}"
        );
    }

    #[test]
    fn cells_print_integers_and_name_other_kinds() {
        assert_eq!(cell_text(&Field::Long(42)), Ok(Some("42".into())));
        assert_eq!(cell_text(&Field::Null), Ok(None));
        assert_eq!(cell_text(&Field::Str("a".into())), Ok(Some("a".into())));
        assert_eq!(
            cell_text(&Field::Double(0.5)),
            Err("floating-point numbers")
        );
    }
}
