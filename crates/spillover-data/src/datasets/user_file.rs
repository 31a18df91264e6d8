//! Prompts from a user's own file: JSONL, CSV, parquet or TXT, with the prompt column named as
//! `path:column` (e.g. `strongreject.csv:forbidden_prompt`; TXT takes no column).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Result};
use super::item::{item_id, Dataset, Item, Source};
use super::parquet::read_parquet;
use super::read::{csv_table, field, jsonl, read_utf8, short};
use super::table::{At, Table};
use crate::resolve_local;

/// A user file and the column (CSV header, JSON key or parquet column) that holds the prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserFileSpec {
    /// The file.
    pub path: PathBuf,
    /// The prompt column (CSV header, JSON key or parquet column); `None` for TXT files (one
    /// prompt per non-blank line).
    pub column: Option<String>,
}

/// The file formats a user file may have, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
    Parquet,
    Txt,
}

impl FromStr for UserFileSpec {
    type Err = DatasetError;

    /// Splits `path:column` at the last `:` when what follows is a plain name (no `/` or
    /// `\`), so `C:\data\x.txt` and `dir:v2/x.txt` stay whole paths.
    fn from_str(s: &str) -> Result<Self> {
        if s.trim().is_empty() {
            return Err(DatasetError::Config("empty dataset file argument".into()));
        }
        let split = s
            .rsplit_once(':')
            .filter(|(p, c)| !p.is_empty() && !c.is_empty() && !c.contains(['/', '\\']));
        Ok(match split {
            Some((path, column)) => UserFileSpec {
                path: path.into(),
                column: Some(column.to_string()),
            },
            None => UserFileSpec {
                path: s.into(),
                column: None,
            },
        })
    }
}

impl fmt::Display for UserFileSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        match &self.column {
            Some(c) => write!(f, ":{c}"),
            None => Ok(()),
        }
    }
}

/// Loads a user file as a dataset named after the file stem (lowercase, `[a-z0-9-]`), one
/// item per row in file order; other columns of the row go to `extra`.
///
/// Errors (all user-fixable: [`spillover_errors::UserFixable`]) name the file and line (parquet: row): unknown
/// extension, missing or unneeded column (with the available ones), a column that is not text,
/// empty file, invalid UTF-8, a malformed row, a damaged parquet file or an empty prompt.
pub fn load_user_file(spec: &UserFileSpec) -> Result<Dataset> {
    let path = spec.path.as_path();
    let format = format_of(path)?;
    let local = resolve_local(path)?;
    let name = dataset_name(path);
    let column = spec.column.as_deref();
    let items = match (format, column) {
        (Format::Txt, None) => txt_items(&name, &read_utf8(path)?),
        (Format::Txt, Some(c)) => {
            let reason = format!("TXT files have one prompt per line and no columns; drop `:{c}`");
            return Err(DatasetError::bad_file(path, reason));
        }
        (Format::Csv, _) => {
            let table = Table::from_csv(path, csv_table(path, &read_utf8(path)?)?);
            table_items(&table, &name, column)?
        }
        (Format::Parquet, _) => table_items(&read_parquet(path)?, &name, column)?,
        (Format::Jsonl, _) => jsonl_items(path, &name, &read_utf8(path)?, column)?,
    };
    if items.is_empty() {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(Dataset::new(name, Source::local(&local), items))
}

/// The format implied by the file extension.
fn format_of(path: &Path) -> Result<Format> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    match ext.as_deref() {
        Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
        Some("csv") => Ok(Format::Csv),
        Some("txt") => Ok(Format::Txt),
        Some("parquet") => Ok(Format::Parquet),
        _ => Err(DatasetError::bad_file(
            path,
            "unsupported file type; use .jsonl, .csv, .parquet or .txt",
        )),
    }
}

/// The file stem as a dataset name: lowercase, other characters than `[a-z0-9]` become `-`.
fn dataset_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map_or("user".into(), |s| s.to_string_lossy());
    let name: String = stem
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() {
        "user".to_string()
    } else {
        name
    }
}

/// One item per non-blank line, trimmed.
fn txt_items(name: &str, text: &str) -> Vec<Item> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| Item::new(item_id(name, i), l))
        .collect()
}

/// Items from a CSV or parquet file's `column`; the other columns with a text value (CSV:
/// all) go to `extra`.
fn table_items(table: &Table, name: &str, column: Option<&str>) -> Result<Vec<Item>> {
    let path = table.path.as_path();
    let column = column.ok_or_else(|| need_column(path, &table.headers))?;
    let c = table.column(column)?;
    let mut items = Vec::new();
    for (at, row) in &table.rows {
        let value = row[c].as_deref().unwrap_or("");
        let text = prompt_text(path, *at, column, value)?;
        let mut item = Item::new(item_id(name, items.len()), text);
        for (i, h) in table.headers.iter().enumerate().filter(|(i, _)| *i != c) {
            if let (None, Some(v)) = (&table.not_text[i], &row[i]) {
                item.extra.insert(h.clone(), v.clone());
            }
        }
        items.push(item);
    }
    Ok(items)
}

/// Items from a JSONL file's `column` key; other text or number fields go to `extra`.
fn jsonl_items(path: &Path, name: &str, text: &str, column: Option<&str>) -> Result<Vec<Item>> {
    let rows = jsonl(path, text)?;
    let Some(column) = column else {
        let keys: Vec<String> = rows
            .first()
            .map_or(Vec::new(), |r| r.1.keys().cloned().collect());
        return Err(need_column(path, &keys));
    };
    let mut items = Vec::new();
    for row in &rows {
        let text = prompt_text(path, At::Line(row.0), column, &field(path, row, column)?)?;
        let mut item = Item::new(item_id(name, items.len()), text);
        for key in row.1.keys().filter(|k| *k != column) {
            if let Ok(v) = field(path, row, key) {
                item.extra.insert(key.clone(), v);
            }
        }
        items.push(item);
    }
    Ok(items)
}

/// The prompt text of one row, which must not be blank.
fn prompt_text(path: &Path, at: At, column: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(at.error(path, format!("empty value in column `{column}`")));
    }
    Ok(value.to_string())
}

/// The error for a CSV/JSONL/parquet file given without a column.
fn need_column(path: &Path, available: &[String]) -> DatasetError {
    let example = available.first().map_or("COLUMN", String::as_str);
    DatasetError::bad_file(
        path,
        format!(
            "say which column holds the prompts, as `{}:{example}`; available: {}",
            path.display(),
            short(&available.join(", "))
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing_keeps_paths_with_colons_whole() {
        let s: UserFileSpec = "my.csv:forbidden_prompt".parse().unwrap();
        assert_eq!(s.path, PathBuf::from("my.csv"));
        assert_eq!(s.column.as_deref(), Some("forbidden_prompt"));
        let s: UserFileSpec = "prompts.txt".parse().unwrap();
        assert_eq!(s.column, None);
        let s: UserFileSpec = r"C:\data\x.txt".parse().unwrap();
        assert_eq!((s.path, s.column), (PathBuf::from(r"C:\data\x.txt"), None));
        let s: UserFileSpec = "dir:v2/x.txt".parse().unwrap();
        assert_eq!(s.column, None);
        assert_eq!(
            "a.jsonl:q".parse::<UserFileSpec>().unwrap().to_string(),
            "a.jsonl:q"
        );
    }

    #[test]
    fn names_are_sanitised_file_stems() {
        assert_eq!(dataset_name(Path::new("/x/My Set_v2.csv")), "my-set-v2");
        assert_eq!(dataset_name(Path::new("/x/__.csv")), "user");
    }
}
