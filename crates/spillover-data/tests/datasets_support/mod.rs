//! Helpers shared by the `datasets_*` tests: cached packaged assets and `data` files,
//! skipped with a printed reason when absent (or a panic under SPILLOVER_REQUIRE_FIXTURES).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use spillover_data::datasets::{Builtin, Dataset, Item, Source};
use spillover_data::{cache_root, resolve_cached, ResolvedAsset};

/// Reports a missing input: panics when SPILLOVER_REQUIRE_FIXTURES is set, else prints
/// `skipped: ...` and returns `None`.
pub fn missing<T>(what: &str) -> Option<T> {
    if std::env::var_os("SPILLOVER_REQUIRE_FIXTURES").is_some() {
        panic!("{what} is required (SPILLOVER_REQUIRE_FIXTURES is set) but absent");
    }
    println!("skipped: {what} is absent");
    None
}

/// The cached packaged asset `id` (never downloads).
pub fn cached(id: &str) -> Option<ResolvedAsset> {
    let root = cache_root();
    resolve_cached(&root, id).or_else(|| {
        missing(&format!(
            "packaged asset `{id}` in the cache {} (run `spillover fetch {id}`)",
            root.display()
        ))
    })
}

/// The packaged dataset `b`, loaded from the cache.
pub fn builtin(b: Builtin) -> Option<Dataset> {
    let asset = cached(b.asset_id())?;
    Some(b.from_asset(&asset).expect("packaged dataset loads"))
}

/// A file under the repository's `data/`: `$SPILLOVER_DATA/<rel>` or `<repo>/data/<rel>`.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let base = std::env::var_os("SPILLOVER_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"));
    let path = base.join(rel);
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!("shared data file {}", path.display()))
    }
}

/// Writes `bytes` to `name` in `dir` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// A dataset of plain prompts with ids `<name>-0000`, ...
pub fn prompts(name: &str, texts: &[&str]) -> Dataset {
    let items = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Item::new(format!("{name}-{i:04}"), *t))
        .collect();
    Dataset::new(name, Source::Derived { from: vec![] }, items)
}

/// Asserts that ids are unique and texts non-blank.
pub fn assert_well_formed(ds: &Dataset) {
    let mut ids: Vec<&str> = ds.items.iter().map(|i| i.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "{}: duplicate ids", ds.name);
    assert!(
        ds.items.iter().all(|i| !i.text.trim().is_empty()),
        "{}: blank item text",
        ds.name
    );
    assert!(
        ds.items
            .iter()
            .all(|i| i.id.starts_with(&format!("{}-", ds.name))),
        "{}: ids must carry the dataset name",
        ds.name
    );
}
