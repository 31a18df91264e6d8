//! Rows of named text cells from a CSV or parquet file, each with its place in the file, so the
//! loaders read both formats the same way and report errors at the right line or row.

use std::path::{Path, PathBuf};

use super::error::{DatasetError, Result};
use super::read::CsvTable;

/// Where a record sits in its file, 1-based: a text line (CSV, JSONL) or a parquet row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// A line of a text file.
    Line(usize),
    /// A row of a parquet file.
    Row(usize),
}

impl At {
    /// An error about the record at `self` in `path` (`path:LINE: ...` or `path: row N: ...`).
    pub(crate) fn error(self, path: &Path, reason: impl Into<String>) -> DatasetError {
        match self {
            At::Line(line) => DatasetError::malformed(path, line, reason),
            At::Row(row) => DatasetError::bad_file(path, format!("row {row}: {}", reason.into())),
        }
    }
}

/// A table of text cells. CSV fields are always present; parquet nulls are `None`, and parquet
/// integers and booleans are printed as text.
#[derive(Debug)]
pub(crate) struct Table {
    /// The file the table was read from.
    pub path: PathBuf,
    /// Column names, in file order.
    pub headers: Vec<String>,
    /// Per column: `None` when its values read as text, else what it holds (e.g. "lists").
    pub not_text: Vec<Option<String>>,
    /// The header line of a CSV file; `None` for parquet (the schema names the columns).
    pub header_line: Option<usize>,
    /// The records with their place in the file.
    pub rows: Vec<(At, Vec<Option<String>>)>,
}

impl Table {
    /// A parsed CSV file as a table.
    pub(crate) fn from_csv(path: &Path, csv: CsvTable) -> Table {
        Table {
            path: path.to_path_buf(),
            not_text: vec![None; csv.headers.len()],
            headers: csv.headers,
            header_line: Some(csv.header_line),
            rows: csv
                .rows
                .into_iter()
                .map(|(line, fields)| (At::Line(line), fields.into_iter().map(Some).collect()))
                .collect(),
        }
    }

    /// Index of the text column `name`; a missing column lists the ones that exist, a column
    /// of another type says what it holds.
    pub(crate) fn column(&self, name: &str) -> Result<usize> {
        self.optional_column(name)?
            .ok_or_else(|| self.missing(name))
    }

    /// Index of the text column `name` when the file has it.
    pub(crate) fn optional_column(&self, name: &str) -> Result<Option<usize>> {
        let Some(c) = self.headers.iter().position(|h| h == name) else {
            return Ok(None);
        };
        match &self.not_text[c] {
            None => Ok(Some(c)),
            Some(found) => Err(DatasetError::bad_file(
                &self.path,
                format!("column `{name}` holds {found}; expected text (or integers)"),
            )),
        }
    }

    /// The error for a column the file lacks.
    fn missing(&self, name: &str) -> DatasetError {
        match self.header_line {
            Some(line) => DatasetError::MissingColumn {
                path: self.path.clone(),
                line,
                column: name.to_string(),
                available: self.headers.clone(),
            },
            None => DatasetError::bad_file(
                &self.path,
                format!(
                    "no column `{name}`; available: {}",
                    if self.headers.is_empty() {
                        "(none)".to_string()
                    } else {
                        self.headers.join(", ")
                    }
                ),
            ),
        }
    }
}

/// The text of a cell; a null cell reads as the empty string, as an empty CSV field does.
pub(crate) fn cell(row: &[Option<String>], c: usize) -> &str {
    row[c].as_deref().unwrap_or("")
}
