//! Reading files into rows with line numbers: UTF-8 text, gzip, JSON, JSONL and CSV.
//!
//! Every reader reports problems as [`DatasetError`]s naming the file and the 1-based line.

use std::fs;
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use super::error::{DatasetError, Result};

/// A JSON object with the line it started on.
pub(crate) type JsonRow = (usize, Map<String, Value>);

/// Reads `path` as UTF-8 text (a leading byte-order mark is dropped). The one reader of text
/// files: datasets, training files, judge label files and experiment files all go through it, so
/// a BOM or invalid UTF-8 is handled the same way everywhere ([`DatasetError::BadUtf8`] names the
/// line of the first invalid byte).
pub fn read_utf8(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    bytes_to_utf8(path, bytes)
}

/// Reads a gzip-compressed UTF-8 file.
pub(crate) fn read_gzip_utf8(path: &Path) -> Result<String> {
    let file = fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| DatasetError::bad_file(path, format!("not a readable gzip file: {e}")))?;
    bytes_to_utf8(path, bytes)
}

/// Converts bytes to a string, or names the line of the first invalid byte.
fn bytes_to_utf8(path: &Path, mut bytes: Vec<u8>) -> Result<String> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        DatasetError::BadUtf8 {
            path: path.to_path_buf(),
            line,
            offset,
        }
    })
}

/// Parses a whole-file JSON array of objects; each row's "line" is its 1-based index.
pub(crate) fn json_array(path: &Path, text: &str) -> Result<Vec<JsonRow>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| DatasetError::malformed(path, e.line(), format!("invalid JSON: {e}")))?;
    let Value::Array(rows) = value else {
        return Err(DatasetError::bad_file(
            path,
            "expected a JSON array of objects",
        ));
    };
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| match row {
            Value::Object(map) => Ok((i + 1, map)),
            _ => Err(DatasetError::bad_file(
                path,
                format!("element {} of the array is not an object", i + 1),
            )),
        })
        .collect()
}

/// Parses JSON Lines: one object per non-blank line.
pub(crate) fn jsonl(path: &Path, text: &str) -> Result<Vec<JsonRow>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| DatasetError::malformed(path, i + 1, format!("invalid JSON: {e}")))?;
        match value {
            Value::Object(map) => rows.push((i + 1, map)),
            _ => {
                return Err(DatasetError::malformed(
                    path,
                    i + 1,
                    "expected a JSON object",
                ))
            }
        }
    }
    Ok(rows)
}

/// The text of `row[key]`: strings as they are, numbers and booleans printed; missing keys
/// give [`DatasetError::MissingColumn`], other types [`DatasetError::Malformed`].
pub(crate) fn field(path: &Path, (line, row): &JsonRow, key: &str) -> Result<String> {
    match row.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(v.to_string()),
        Some(other) => Err(DatasetError::malformed(
            path,
            *line,
            format!("`{key}` is not text: {}", short(&other.to_string())),
        )),
        None => Err(DatasetError::MissingColumn {
            path: path.to_path_buf(),
            line: *line,
            column: key.to_string(),
            available: row.keys().cloned().collect(),
        }),
    }
}

/// A parsed CSV file: the header and the records with their starting lines.
#[derive(Debug)]
pub(crate) struct CsvTable {
    /// Line of the header row.
    pub header_line: usize,
    /// Column names.
    pub headers: Vec<String>,
    /// `(line, fields)` for each record.
    pub rows: Vec<(usize, Vec<String>)>,
}

impl CsvTable {
    /// Index of `column`, or a [`DatasetError::MissingColumn`] listing the header.
    pub(crate) fn column(&self, path: &Path, column: &str) -> Result<usize> {
        self.headers
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| DatasetError::MissingColumn {
                path: path.to_path_buf(),
                line: self.header_line,
                column: column.to_string(),
                available: self.headers.clone(),
            })
    }
}

/// Parses CSV with a header row. Lines starting with `#` before the header are skipped
/// (PyRIT's files open with such comments); every record must have as many fields as the
/// header.
pub(crate) fn csv_table(path: &Path, text: &str) -> Result<CsvTable> {
    let skipped = text.lines().take_while(|l| l.starts_with('#')).count();
    let body_start: usize = text.split_inclusive('\n').take(skipped).map(str::len).sum();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&text.as_bytes()[body_start..]);
    let mut records = reader.records();
    let Some(header) = records.next() else {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
        });
    };
    let header_line = skipped + 1;
    let headers: Vec<String> = header
        .map_err(|e| csv_error(path, skipped, e))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(path, skipped, e))?;
        let line = skipped + record.position().map_or(0, |p| p.line() as usize);
        if record.len() != headers.len() {
            let reason = format!(
                "expected {} fields (as in the header), found {}",
                headers.len(),
                record.len()
            );
            return Err(DatasetError::malformed(path, line, reason));
        }
        rows.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(CsvTable {
        header_line,
        headers,
        rows,
    })
}

/// Maps a csv error to a line-numbered error (`offset` = lines skipped before the header).
fn csv_error(path: &Path, offset: usize, e: csv::Error) -> DatasetError {
    let line = offset + e.position().map_or(0, |p| p.line() as usize);
    DatasetError::malformed(path, line.max(1), format!("malformed CSV: {e}"))
}

/// The first 80 characters of `s`, with an ellipsis when cut.
pub(crate) fn short(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
