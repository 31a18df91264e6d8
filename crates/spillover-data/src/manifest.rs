//! The per-entry manifest and the validity check of a cache entry.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result};
use crate::hash::sha256_file;
use crate::resolved::{join_rel, ResolvedAsset, ResolvedFile};
use crate::spec::{AssetSpec, Layout, WheelPart, MANIFEST_NAME};

/// Version of the manifest format.
const FORMAT: u32 = 1;

/// What was recorded about one payload file when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    /// Path relative to the entry folder, `/`-separated.
    pub name: String,
    /// sha256 at extraction time.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in ns since the epoch.
    pub mtime_ns: u64,
}

/// The manifest stored as `spillover-manifest.json` in each entry folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: u32,
    pub id: String,
    pub parts: Vec<WheelPart>,
    pub layout: Layout,
    /// Relative path of the payload (file or folder).
    pub path: String,
    pub files: Vec<FileRecord>,
}

/// The state of a cache entry folder.
#[derive(Debug)]
pub(crate) enum EntryState {
    /// No entry folder.
    Missing,
    /// Present and verified.
    Valid(ResolvedAsset),
    /// Present but unusable, with the reason.
    Invalid(String),
}

impl Manifest {
    /// A fresh manifest for `spec` with the given file records.
    pub(crate) fn new(spec: &AssetSpec, files: Vec<FileRecord>) -> Self {
        Manifest {
            format: FORMAT,
            id: spec.id.clone(),
            parts: spec.parts.clone(),
            layout: spec.layout.clone(),
            path: spec.payload_path(),
            files,
        }
    }

    /// The resolved view of this manifest for an entry at `entry`.
    pub(crate) fn to_resolved(&self, entry: &Path, fetched: bool) -> ResolvedAsset {
        let payload = self.path.clone() + "/";
        let files = self
            .files
            .iter()
            .map(|r| ResolvedFile {
                name: r.name.strip_prefix(&payload).unwrap_or(&r.name).to_string(),
                path: join_rel(entry, &r.name),
                sha256: r.sha256.clone(),
                size: r.size,
            })
            .collect();
        ResolvedAsset {
            id: self.id.clone(),
            path: join_rel(entry, &self.path),
            files,
            sources: self.parts.clone(),
            fetched,
        }
    }

    /// Why this manifest does not describe `spec`, if it does not.
    fn mismatch(&self, spec: &AssetSpec) -> Option<&'static str> {
        let names: Vec<String> = self.files.iter().map(|f| f.name.clone()).collect();
        if self.format != FORMAT || self.id != spec.id || self.path != spec.payload_path() {
            Some("manifest is for another entry or format")
        } else if self.parts != spec.parts || self.layout != spec.layout {
            Some("built from different wheel pins")
        } else if names != spec.output_files() {
            Some("manifest lists other files")
        } else if spec
            .expected_file_sha256()
            .is_some_and(|sha| self.files.iter().any(|f| f.sha256 != sha))
        {
            Some("recorded sha256 differs from the pinned one")
        } else {
            None
        }
    }
}

/// Modification time of `meta` in ns since the epoch (0 when unavailable).
pub(crate) fn mtime_of(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Records a freshly written payload file (its mtime is read now).
pub(crate) fn record(entry: &Path, name: &str, sha256: String, size: u64) -> Result<FileRecord> {
    let path = join_rel(entry, name);
    let meta = fs::metadata(&path).at(&path)?;
    Ok(FileRecord {
        name: name.to_string(),
        sha256,
        size,
        mtime_ns: mtime_of(&meta),
    })
}

/// Writes the manifest into `entry` atomically ([`spillover_core::fs::write_atomic`]).
pub(crate) fn write_manifest(entry: &Path, manifest: &Manifest) -> Result<()> {
    let json = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
    let dest = entry.join(MANIFEST_NAME);
    spillover_core::fs::write_atomic(&dest, &json).at(&dest)
}

/// Reads the manifest of `entry`; `None` when it is missing or unparsable.
pub(crate) fn read_manifest(entry: &Path) -> Option<Manifest> {
    let bytes = fs::read(entry.join(MANIFEST_NAME)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Checks an entry folder against `spec`: cheap (size + mtime) where possible, re-hashing
/// files whose size or mtime changed. A file that re-hashes correctly gets its record updated.
pub(crate) fn check_entry(entry: &Path, spec: &AssetSpec) -> Result<EntryState> {
    if !entry.exists() {
        return Ok(EntryState::Missing);
    }
    let Some(mut manifest) = read_manifest(entry) else {
        return Ok(EntryState::Invalid("manifest missing or unreadable".into()));
    };
    if let Some(reason) = manifest.mismatch(spec) {
        return Ok(EntryState::Invalid(reason.into()));
    }
    let mut updated = false;
    for rec in &mut manifest.files {
        match check_file(entry, rec)? {
            FileCheck::Same => {}
            FileCheck::Rehashed => updated = true,
            FileCheck::Bad(reason) => return Ok(EntryState::Invalid(reason)),
        }
    }
    if updated {
        // Best effort: a failure only costs another re-hash next time.
        let _ = write_manifest(entry, &manifest);
    }
    Ok(EntryState::Valid(manifest.to_resolved(entry, false)))
}

/// Result of checking one file.
enum FileCheck {
    /// Size and mtime as recorded.
    Same,
    /// Size or mtime changed but the content hashes as recorded; `rec` now has the new mtime.
    Rehashed,
    /// Missing or different content.
    Bad(String),
}

/// Checks one payload file against its record.
fn check_file(entry: &Path, rec: &mut FileRecord) -> Result<FileCheck> {
    let path = join_rel(entry, &rec.name);
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(FileCheck::Bad(format!("{} is missing", rec.name)))
        }
        Err(e) => return Err(e).at(&path),
    };
    if !meta.is_file() {
        return Ok(FileCheck::Bad(format!("{} is not a file", rec.name)));
    }
    if meta.len() == rec.size && mtime_of(&meta) == rec.mtime_ns {
        return Ok(FileCheck::Same);
    }
    let (sha, size) = sha256_file(&path)?;
    if sha != rec.sha256 || size != rec.size {
        return Ok(FileCheck::Bad(format!(
            "{} changed ({size} bytes, sha256 {sha}; expected {} bytes, {})",
            rec.name, rec.size, rec.sha256
        )));
    }
    rec.mtime_ns = mtime_of(&meta);
    Ok(FileCheck::Rehashed)
}
