//! Cache folder layout, the per-id lock and listing.
//!
//! ```text
//! <root>/assets/<id>/spillover-manifest.json   per-file sha256, size, mtime
//! <root>/assets/<id>/<file>                    single / joined layouts
//! <root>/assets/<id>/files/<file>...           folder layout
//! <root>/locks/<id>.lock                       held (flock) while an entry is (re)built
//! <root>/tmp/                                  downloads and staging, same filesystem
//! ```
//! An entry is built complete in `tmp/` and renamed into `assets/` in one step, so a
//! half-written file never appears under its final name.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{IoContext, Result};
use crate::manifest::read_manifest;
use crate::resolved::{CachedEntry, ResolvedFile};
use crate::spec::MANIFEST_NAME;

/// Temp items older than this are assumed to belong to a crashed process.
const STALE_TMP: Duration = Duration::from_secs(24 * 3600);

/// The cache root: `$SPILLOVER_CACHE`, else `$XDG_CACHE_HOME/spillover`, else
/// `~/.cache/spillover` (falling back to the system temp folder when there is no home).
pub fn cache_root() -> PathBuf {
    cache_root_from(|k| std::env::var_os(k))
}

/// [`cache_root`] with the environment supplied by `var` (for tests).
pub fn cache_root_from(var: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let get = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = get("SPILLOVER_CACHE") {
        return p;
    }
    if let Some(p) = get("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return p.join("spillover");
    }
    match get("HOME").or_else(|| get("USERPROFILE")) {
        Some(home) => home.join(".cache").join("spillover"),
        None => std::env::temp_dir().join("spillover-cache"),
    }
}

/// Folder of the cache entry for `id`.
pub(crate) fn entry_dir(root: &Path, id: &str) -> PathBuf {
    root.join("assets").join(id)
}

/// Folder for temporary downloads and staging; created on demand.
pub(crate) fn tmp_dir(root: &Path) -> Result<PathBuf> {
    let dir = root.join("tmp");
    fs::create_dir_all(&dir).at(&dir)?;
    Ok(dir)
}

/// An exclusive advisory lock on one id, released when dropped (or when the process dies).
pub(crate) struct IdLock {
    _file: File,
}

impl IdLock {
    /// Blocks until the lock for `id` is held, saying so on stderr if it has to wait.
    pub(crate) fn acquire(root: &Path, id: &str, progress: bool) -> Result<IdLock> {
        let dir = root.join("locks");
        fs::create_dir_all(&dir).at(&dir)?;
        let path = dir.join(format!("{id}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        if file.try_lock().is_err() {
            if progress {
                eprintln!("waiting for another process that is fetching {id} ...");
            }
            file.lock().at(&path)?;
        }
        Ok(IdLock { _file: file })
    }
}

/// Removes an entry folder: first renamed away (so it vanishes in one step), then deleted.
pub(crate) fn discard_entry(root: &Path, id: &str) -> Result<()> {
    let entry = entry_dir(root, id);
    if !entry.exists() {
        return Ok(());
    }
    let trash = tempfile::Builder::new()
        .prefix(".trash-")
        .tempdir_in(tmp_dir(root)?)
        .at(root)?;
    let dest = trash.path().join(id);
    fs::rename(&entry, &dest).at(&entry)?;
    trash.close().at(&dest)
}

/// Best-effort removal of temp items left by crashed processes long ago.
pub(crate) fn sweep_stale_tmp(root: &Path) {
    let Ok(items) = fs::read_dir(root.join("tmp")) else {
        return;
    };
    let now = SystemTime::now();
    for item in items.flatten() {
        let old = item
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_TMP);
        if old {
            let p = item.path();
            let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
        }
    }
}

/// Fsyncs a folder so a rename inside it is durable (no-op where unsupported).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Every entry under `root` that has a readable manifest, sorted by id. Nothing is hashed;
/// `looks_intact` compares sizes and mtimes only.
pub fn list_cached(root: &Path) -> Vec<CachedEntry> {
    let Ok(items) = fs::read_dir(root.join("assets")) else {
        return Vec::new();
    };
    let mut out: Vec<CachedEntry> = items
        .flatten()
        .filter_map(|item| listed_entry(&item.path()))
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// One listed entry, or `None` without a readable manifest.
fn listed_entry(entry: &Path) -> Option<CachedEntry> {
    if !entry.join(MANIFEST_NAME).is_file() {
        return None;
    }
    let manifest = read_manifest(entry)?;
    let looks_intact = manifest.files.iter().all(|r| {
        let meta = fs::metadata(crate::resolved::join_rel(entry, &r.name));
        meta.is_ok_and(|m| m.len() == r.size && crate::manifest::mtime_of(&m) == r.mtime_ns)
    });
    let resolved = manifest.to_resolved(entry, false);
    let files: Vec<ResolvedFile> = resolved.files;
    Some(CachedEntry {
        id: resolved.id,
        path: resolved.path,
        total_size: files.iter().map(|f| f.size).sum(),
        files,
        sources: resolved.sources,
        looks_intact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
    }

    #[test]
    fn cache_root_precedence() {
        let all = [
            ("SPILLOVER_CACHE", "/a"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(cache_root_from(env(&all)), PathBuf::from("/a"));
        assert_eq!(
            cache_root_from(env(&all[1..])),
            PathBuf::from("/x/spillover")
        );
        assert_eq!(
            cache_root_from(env(&all[2..])),
            PathBuf::from("/h/.cache/spillover")
        );
        let empty = [("SPILLOVER_CACHE", ""), ("HOME", "/h")];
        assert_eq!(
            cache_root_from(env(&empty)),
            PathBuf::from("/h/.cache/spillover")
        );
    }
}
