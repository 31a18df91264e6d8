//! User-supplied local files and folders, hashed for provenance.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{AssetError, IoContext, Result};
use crate::hash::{sha256_file, to_hex};
use crate::resolved::{LocalAsset, ResolvedFile};

/// Checks that `path` exists and returns it (canonical) with its sha256; a folder is hashed
/// file by file (symlinks followed). Errors name the path as given.
pub fn resolve_local(path: &Path) -> Result<LocalAsset> {
    let canonical = fs::canonicalize(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => AssetError::LocalNotFound {
            path: path.to_path_buf(),
        },
        _ => AssetError::io(path, e),
    })?;
    let meta = fs::metadata(&canonical).at(path)?;
    if !meta.is_dir() {
        let file = hashed(&canonical, file_name(&canonical))?;
        return Ok(LocalAsset {
            path: canonical,
            is_dir: false,
            sha256: file.sha256.clone(),
            files: vec![file],
        });
    }
    let mut files = Vec::new();
    walk(&canonical, "", &mut files)?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(LocalAsset {
        sha256: listing_sha256(&files),
        path: canonical,
        is_dir: true,
        files,
    })
}

/// The last component of `path` as a string.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Hashes one file under the display name `name`.
fn hashed(path: &Path, name: String) -> Result<ResolvedFile> {
    let (sha256, size) = sha256_file(path)?;
    Ok(ResolvedFile {
        name,
        path: path.to_path_buf(),
        sha256,
        size,
    })
}

/// Adds every regular file below `dir` (names prefixed with `prefix`) to `out`.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<ResolvedFile>) -> Result<()> {
    for item in fs::read_dir(dir).at(dir)? {
        let path = item.at(dir)?.path();
        let name = format!("{prefix}{}", file_name(&path));
        let meta = fs::metadata(&path).at(&path)?;
        if meta.is_dir() {
            walk(&path, &format!("{name}/"), out)?;
        } else if meta.is_file() {
            out.push(hashed(&path, name)?);
        }
    }
    Ok(())
}

/// sha256 of the `sha256sum`-style listing of `files` (already sorted).
fn listing_sha256(files: &[ResolvedFile]) -> String {
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update(format!("{}  {}\n", f.sha256, f.name).as_bytes());
    }
    to_hex(&hasher.finalize())
}
