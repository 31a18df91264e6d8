//! A small typed column table and its two file formats: CSV (a header line, RFC 4180 quoting,
//! nulls as empty fields, empty texts as `""`) and Parquet (one row group, snappy pages, written with the `parquet`
//! crate's column writers, no Arrow).
//!
//! Column types map to Parquet as: text → `BYTE_ARRAY` (UTF-8 string), integer → `INT64`,
//! number → `DOUBLE`, boolean → `BOOLEAN`; a nullable column is `OPTIONAL`, any other
//! `REQUIRED`. A NaN number is written as null (results.json does the same); ±∞ stay ±∞
//! (`inf` / `-inf` in CSV, which pandas and polars read as floats).

use anyhow::{bail, Context, Result};
use parquet::basic::{Compression, LogicalType, Repetition, Type as Physical};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use std::sync::Arc;

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Number(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Text(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Number(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    fn nulls(&self) -> usize {
        match self {
            Values::Text(v) => v.iter().filter(|x| x.is_none()).count(),
            Values::Int(v) => v.iter().filter(|x| x.is_none()).count(),
            Values::Number(v) => v.iter().filter(|x| x.is_none()).count(),
            Values::Bool(v) => v.iter().filter(|x| x.is_none()).count(),
        }
    }

    /// The CSV field of row `i` (empty for null).
    fn cell(&self, i: usize) -> String {
        match self {
            Values::Text(v) => v[i].as_deref().map(quote).unwrap_or_default(),
            Values::Int(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            // `{:?}` is the shortest text that reads back as the same f64 (`1.0`, `0.25`,
            // `1e-7`, `inf`).
            Values::Number(v) => v[i].map(|x| format!("{x:?}")).unwrap_or_default(),
            Values::Bool(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
        }
    }
}

/// A text as a CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a quote
/// or a line break, or is empty.
fn quote(s: &str) -> String {
    if s.is_empty() || s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub nullable: bool,
    pub values: Values,
}

/// Columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub columns: Vec<Column>,
}

impl Frame {
    /// Adds a column. Every column has as many rows as the first; a column that is not
    /// `nullable` may hold no null; NaN numbers become nulls.
    pub fn add(&mut self, name: &str, nullable: bool, mut values: Values) -> Result<()> {
        if let Values::Number(v) = &mut values {
            v.iter_mut()
                .filter(|x| x.is_some_and(f64::is_nan))
                .for_each(|x| *x = None);
        }
        if let Some(first) = self.columns.first() {
            if first.values.len() != values.len() {
                bail!(
                    "column {name}: {} rows, but {} has {}",
                    values.len(),
                    first.name,
                    first.values.len()
                );
            }
        }
        if !nullable && values.nulls() > 0 {
            bail!("column {name}: a null in a column that may not hold one");
        }
        if self.columns.iter().any(|c| c.name == name) {
            bail!("column {name} twice");
        }
        self.columns.push(Column {
            name: name.to_string(),
            nullable,
            values,
        });
        Ok(())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    /// The table as CSV: a header line, then one line per row (`\n` line ends). A field is
    /// quoted when it holds a comma, a quote or a line break, and an empty text is written `""`,
    /// so that it differs from a null (an empty field).
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = String::new();
        let line = |cells: Vec<String>, out: &mut String| {
            out.push_str(&cells.join(","));
            out.push('\n');
        };
        line(
            self.columns.iter().map(|c| quote(&c.name)).collect(),
            &mut out,
        );
        for i in 0..self.rows() {
            line(
                self.columns.iter().map(|c| c.values.cell(i)).collect(),
                &mut out,
            );
        }
        out.into_bytes()
    }

    /// The table as a Parquet file: one row group, snappy-compressed pages.
    pub fn to_parquet(&self) -> Result<Vec<u8>> {
        let fields = self
            .columns
            .iter()
            .map(|c| field(c).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let schema = Type::group_type_builder("schema")
            .with_fields(fields)
            .build()?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("spillover {}", env!("CARGO_PKG_VERSION")))
            .build();
        let mut bytes = Vec::new();
        let mut file = SerializedFileWriter::new(&mut bytes, Arc::new(schema), Arc::new(props))?;
        let mut group = file.next_row_group()?;
        for c in &self.columns {
            let mut col = group
                .next_column()?
                .with_context(|| format!("parquet writer has no column for {}", c.name))?;
            let defs = c.nullable.then(|| definition_levels(&c.values));
            let defs = defs.as_deref();
            match &c.values {
                Values::Text(v) => {
                    let present: Vec<ByteArray> = v
                        .iter()
                        .flatten()
                        .map(|s| ByteArray::from(s.as_str()))
                        .collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&present, defs, None)?;
                }
                Values::Int(v) => {
                    let present: Vec<i64> = v.iter().flatten().copied().collect();
                    col.typed::<Int64Type>().write_batch(&present, defs, None)?;
                }
                Values::Number(v) => {
                    let present: Vec<f64> = v.iter().flatten().copied().collect();
                    col.typed::<DoubleType>()
                        .write_batch(&present, defs, None)?;
                }
                Values::Bool(v) => {
                    let present: Vec<bool> = v.iter().flatten().copied().collect();
                    col.typed::<BoolType>().write_batch(&present, defs, None)?;
                }
            }
            col.close()?;
        }
        group.close()?;
        file.close()?;
        Ok(bytes)
    }
}

/// 1 where a value is present, 0 where it is null.
fn definition_levels(v: &Values) -> Vec<i16> {
    let level = |present: bool| i16::from(present);
    match v {
        Values::Text(v) => v.iter().map(|x| level(x.is_some())).collect(),
        Values::Int(v) => v.iter().map(|x| level(x.is_some())).collect(),
        Values::Number(v) => v.iter().map(|x| level(x.is_some())).collect(),
        Values::Bool(v) => v.iter().map(|x| level(x.is_some())).collect(),
    }
}

/// The Parquet schema field of a column.
fn field(c: &Column) -> Result<Type> {
    let (physical, logical) = match c.values {
        Values::Text(_) => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
        Values::Int(_) => (Physical::INT64, None),
        Values::Number(_) => (Physical::DOUBLE, None),
        Values::Bool(_) => (Physical::BOOLEAN, None),
    };
    let repetition = if c.nullable {
        Repetition::OPTIONAL
    } else {
        Repetition::REQUIRED
    };
    Ok(Type::primitive_type_builder(&c.name, physical)
        .with_repetition(repetition)
        .with_logical_type(logical)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    fn sample() -> Frame {
        let mut f = Frame::default();
        f.add(
            "id",
            false,
            Values::Text(vec![
                Some("a,1".into()),
                Some("b \"q\"".into()),
                Some("".into()),
            ]),
        )
        .unwrap();
        f.add("k", false, Values::Int(vec![Some(1), Some(-2), Some(3)]))
            .unwrap();
        f.add(
            "x",
            true,
            Values::Number(vec![Some(0.1), Some(f64::NAN), Some(f64::INFINITY)]),
        )
        .unwrap();
        f.add(
            "ok",
            true,
            Values::Bool(vec![Some(true), None, Some(false)]),
        )
        .unwrap();
        f.add(
            "note",
            true,
            Values::Text(vec![None, Some("line\nbreak".into()), None]),
        )
        .unwrap();
        f
    }

    #[test]
    fn csv_quotes_text_and_writes_nulls_empty() {
        let text = String::from_utf8(sample().to_csv()).unwrap();
        assert_eq!(
            text,
            "id,k,x,ok,note\n\"a,1\",1,0.1,true,\n\"b \"\"q\"\"\",-2,,,\"line\nbreak\"\n\"\",3,inf,false,\n"
        );
    }

    #[test]
    fn parquet_reads_back_with_types_and_nulls() {
        let f = sample();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.parquet");
        std::fs::write(&path, f.to_parquet().unwrap()).unwrap();
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let kinds: Vec<(String, Physical, bool)> = schema
            .columns()
            .iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    c.physical_type(),
                    c.self_type().is_optional(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("id".into(), Physical::BYTE_ARRAY, false),
                ("k".into(), Physical::INT64, false),
                ("x".into(), Physical::DOUBLE, true),
                ("ok".into(), Physical::BOOLEAN, true),
                ("note".into(), Physical::BYTE_ARRAY, true),
            ]
        );
        let rows: Vec<Vec<Field>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| {
                r.unwrap()
                    .get_column_iter()
                    .map(|(_, f)| f.clone())
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][0], Field::Str("a,1".into()));
        assert_eq!(rows[1][1], Field::Long(-2));
        assert_eq!(rows[0][2], Field::Double(0.1));
        assert_eq!(rows[1][2], Field::Null, "NaN is written as null");
        assert_eq!(rows[2][2], Field::Double(f64::INFINITY));
        assert_eq!(rows[1][3], Field::Null);
        assert_eq!(rows[2][3], Field::Bool(false));
        assert_eq!(rows[1][4], Field::Str("line\nbreak".into()));
        assert_eq!(rows[2][0], Field::Str("".into()), "empty text is not null");
        assert_eq!(rows[2][4], Field::Null);
    }

    #[test]
    fn ragged_or_null_in_required_columns_are_refused() {
        let mut f = Frame::default();
        f.add("a", false, Values::Int(vec![Some(1), Some(2)]))
            .unwrap();
        let e = f
            .add("b", false, Values::Int(vec![Some(1)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 rows, but a has 2"), "{e}");
        let e = f
            .add("c", false, Values::Int(vec![Some(1), None]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("null"), "{e}");
    }

    #[test]
    fn the_same_frame_gives_the_same_bytes() {
        assert_eq!(
            sample().to_parquet().unwrap(),
            sample().to_parquet().unwrap()
        );
    }
}
