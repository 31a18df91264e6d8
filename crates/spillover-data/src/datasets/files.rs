//! Helpers that tie files to datasets: payload lookup, local provenance, emptiness.

use std::path::Path;

use super::error::{DatasetError, Result};
use super::hub_spec::split_name;
use super::item::{Dataset, Source};
use crate::{resolve_local, ResolvedAsset};

/// The payload file `name` of a folder asset.
pub(crate) fn asset_file<'a>(asset: &'a ResolvedAsset, name: &str) -> Result<&'a Path> {
    asset.file(name).map(|f| f.path.as_path()).ok_or_else(|| {
        DatasetError::bad_file(
            &asset.path,
            format!("asset `{}` has no file `{name}`", asset.id),
        )
    })
}

/// The provenance of a local file and the dataset name `<prefix>-<split>`, where the split is
/// the file stem without a hub shard suffix (`test-00000-of-00001.parquet` → `test`).
pub(crate) fn local_named(path: &Path, prefix: &str) -> Result<(Source, String)> {
    let local = resolve_local(path)?;
    let stem = path
        .file_stem()
        .map_or("file".into(), |s| s.to_string_lossy());
    Ok((
        Source::local(&local),
        format!("{prefix}-{}", split_name(&stem)),
    ))
}

/// True when `path` has the `.parquet` extension (any case).
pub(crate) fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

/// Fails with [`DatasetError::Empty`] when `dataset` has no items.
pub(crate) fn non_empty(path: &Path, dataset: Dataset) -> Result<Dataset> {
    if dataset.is_empty() {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(dataset)
}
