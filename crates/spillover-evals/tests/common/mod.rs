//! Test helpers: locating shared files and cached assets, and skipping when they are absent.
#![allow(dead_code)]

use std::path::PathBuf;

use spillover_evals::judge::locate;

/// Prints why a test is skipped and returns `None`, or panics under `SPILLOVER_REQUIRE_FIXTURES`.
pub fn skip<T>(why: &str) -> Option<T> {
    if std::env::var_os("SPILLOVER_REQUIRE_FIXTURES").is_some() {
        panic!("SPILLOVER_REQUIRE_FIXTURES is set but {why}");
    }
    println!("skipped: {why}");
    None
}

/// A file under the shared fixtures folder, or a skip.
pub fn fixture(rel: &str) -> Option<PathBuf> {
    let p = locate::shared_fixtures_dir().join(rel);
    if p.is_file() {
        Some(p)
    } else {
        skip(&format!(
            "{} not found (set SPILLOVER_FIXTURES)",
            p.display()
        ))
    }
}

/// A file under the shared data folder, or a skip.
pub fn data_file(rel: &str) -> Option<PathBuf> {
    let p = locate::shared_data_dir().join(rel);
    if p.is_file() {
        Some(p)
    } else {
        skip(&format!("{} not found (set SPILLOVER_DATA)", p.display()))
    }
}

/// The folder of a cached asset (never fetched), or a skip.
pub fn cached(id: &str) -> Option<PathBuf> {
    let root = spillover_data::cache_root();
    match locate::cached_asset(&root, id) {
        Some(p) => Some(p),
        None => skip(&format!(
            "asset {id} is not in the cache {} (run `spillover fetch {id}`)",
            root.display()
        )),
    }
}
