//! Writing parquet files in tests (with the parquet crate's own writer), and the rows of the
//! `data` files as columns, read independently of the loaders under test.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// One column's values.
pub enum Col {
    /// Nullable UTF-8 strings.
    Text(Vec<Option<String>>),
    /// Required 64-bit integers.
    Int(Vec<i64>),
    /// Required doubles.
    Double(Vec<f64>),
}

impl Col {
    /// A text column without nulls.
    pub fn text<S: AsRef<str>>(values: &[S]) -> Col {
        Col::Text(
            values
                .iter()
                .map(|v| Some(v.as_ref().to_string()))
                .collect(),
        )
    }
}

/// The bytes of a snappy-compressed parquet file with `columns`, in one row group.
pub fn parquet_bytes(columns: &[(&str, Col)]) -> Vec<u8> {
    let fields: Vec<String> = columns
        .iter()
        .map(|(name, col)| match col {
            Col::Text(_) => format!("optional binary {name} (UTF8);"),
            Col::Int(_) => format!("required int64 {name};"),
            Col::Double(_) => format!("required double {name};"),
        })
        .collect();
    let schema = parse_message_type(&format!("message schema {{ {} }}", fields.join(" "))).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut writer =
        SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(props)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    for (_, col) in columns {
        let mut w = group.next_column().unwrap().expect("a writer per column");
        match col {
            Col::Text(values) => {
                let present: Vec<ByteArray> = values
                    .iter()
                    .flatten()
                    .map(|s| ByteArray::from(s.as_str()))
                    .collect();
                let defs: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
                w.typed::<ByteArrayType>()
                    .write_batch(&present, Some(&defs), None)
                    .unwrap();
            }
            Col::Int(values) => {
                w.typed::<Int64Type>()
                    .write_batch(values, None, None)
                    .unwrap();
            }
            Col::Double(values) => {
                w.typed::<DoubleType>()
                    .write_batch(values, None, None)
                    .unwrap();
            }
        }
        w.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
    out
}

/// Writes [`parquet_bytes`] to `path`.
pub fn write_parquet(path: &Path, columns: &[(&str, Col)]) {
    fs::write(path, parquet_bytes(columns)).unwrap();
}

/// XSTest's CSV as hub-style columns (`prompt, focus, type, note, label`, empty → null), plus
/// `id` first when `with_id`.
pub fn xstest_columns(csv_path: &Path, with_id: bool) -> Vec<(&'static str, Col)> {
    let mut reader = csv::Reader::from_path(csv_path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let get = |name: &str, empty_is_null: bool| {
        let c = headers.iter().position(|h| h == name).unwrap();
        Col::Text(
            records
                .iter()
                .map(|r| Some(r[c].to_string()).filter(|v| !(empty_is_null && v.is_empty())))
                .collect(),
        )
    };
    let mut cols = Vec::new();
    if with_id {
        let c = headers.iter().position(|h| h == "id").unwrap();
        let ids = records
            .iter()
            .map(|r| r[c].parse::<i64>().unwrap())
            .collect();
        cols.push(("id", Col::Int(ids)));
    }
    cols.push(("prompt", get("prompt", false)));
    cols.push(("focus", get("focus", true)));
    cols.push(("type", get("type", false)));
    cols.push(("note", get("note", true)));
    cols.push(("label", get("label", false)));
    cols
}

/// GSM8K JSONL as `question`, `answer` columns.
pub fn gsm8k_columns(jsonl_path: &Path) -> Vec<(&'static str, Col)> {
    let text = fs::read_to_string(jsonl_path).unwrap();
    let (mut q, mut a) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        q.push(v["question"].as_str().unwrap().to_string());
        a.push(v["answer"].as_str().unwrap().to_string());
    }
    vec![("question", Col::text(&q)), ("answer", Col::text(&a))]
}

/// A WikiText file as the hub stores it: one `text` row per line, newline kept ("" for blank).
pub fn wikitext_columns(txt_path: &Path) -> Vec<(&'static str, Col)> {
    let text = fs::read_to_string(txt_path).unwrap();
    let rows: Vec<String> = text
        .split_inclusive('\n')
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect();
    vec![("text", Col::text(&rows))]
}
