//! Where the judge's inputs live: the shared data folder and the asset cache.

use std::path::{Path, PathBuf};

/// `$SPILLOVER_DATA`, else `<repo>/data` (the folder with `xstest/`).
pub fn shared_data_dir() -> PathBuf {
    env_or_default("SPILLOVER_DATA", "data")
}

/// `$SPILLOVER_FIXTURES`, else `<repo>/fixtures`.
pub fn shared_fixtures_dir() -> PathBuf {
    env_or_default("SPILLOVER_FIXTURES", "fixtures")
}

fn env_or_default(var: &str, leaf: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(leaf),
    }
}

/// The folder of a cached asset under `root` without fetching anything: `None` when the asset
/// is not in the cache or its files no longer have their recorded sizes.
pub fn cached_asset(root: &Path, id: &str) -> Option<PathBuf> {
    spillover_data::list_cached(root)
        .into_iter()
        .find(|e| e.id == id && e.looks_intact)
        .map(|e| e.path)
}

/// The folder of an asset, fetching it into the cache when it is missing (CLI use).
pub fn resolve_asset(root: &Path, id: &str) -> super::Result<PathBuf> {
    Ok(spillover_data::resolve(root, id)?.path)
}
