//! Reading the run folder's JSON files with errors that name the file (and line), and writing
//! outputs atomically (a temporary file in the same folder, then a rename).

use crate::error::ReportError;
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Reads and parses a JSON file; a missing file or bad JSON is a [`ReportError`].
pub fn read_json<T: DeserializeOwned>(path: &Path, hint: &str) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::missing(path, &e, hint))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let at = format!(" at line {} column {}", inner.line(), inner.column());
        let msg = inner.to_string();
        let msg = msg.strip_suffix(&at).unwrap_or(&msg);
        let place = if key.is_empty() || key == "." || key == "?" {
            String::new()
        } else {
            format!("key `{key}`: ")
        };
        ReportError::corrupt(
            path,
            Some(inner.line()),
            format!("column {}: {place}{msg}", inner.column()),
        )
    })
}

/// Reads a JSON Lines file (one value per non-empty line).
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, ReportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ReportError::missing(path, &e, "the per-item records of an evaluation"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line).map_err(|e| {
            ReportError::corrupt(
                path,
                Some(i + 1),
                format!("{e} (expected one JSON record per line)"),
            )
        })?;
        out.push(v);
    }
    Ok(out)
}

/// Writes `bytes` to `path` atomically ([`spillover_core::fs::write_atomic`]), creating the
/// folder; a crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    spillover_core::fs::write_atomic(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}
