//! Dataset files from the Hugging Face hub, kept in the standard HF cache (`$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`) so Python and Spillover share downloads.
//!
//! A file already in the cache is read offline (its sha256 is checked against the hub's etag
//! when that is one); otherwise it is downloaded through `hf_hub`, checked (sha256, and for
//! parquet that every row decodes) and only then left in the cache. A failed or damaged
//! download is removed, so a later run never reads half a file.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};

use super::error::{DatasetError, Result};
use super::hub_spec::{split_name, HubFile, HubKind};
use super::item::{Dataset, Source};
use super::parquet::read_parquet;
use super::{capability, prose, safety};
use crate::{is_hex64, sha256_file};

/// The hub used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where hub files come from and where they are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// Base URL of the hub (`$HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`]).
    pub endpoint: String,
    /// The HF cache's `hub` folder (`$HF_HOME/hub`, else `~/.cache/huggingface/hub`).
    pub cache_dir: PathBuf,
    /// Show a progress bar while downloading.
    pub progress: bool,
}

impl HubConfig {
    /// Reads `HF_ENDPOINT` and `HF_HOME` as `huggingface_hub` does; progress bar on.
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        HubConfig {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache_dir: Cache::from_env().path().clone(),
            progress: true,
        }
    }
}

/// A hub file in the local cache, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDownload {
    /// The file that was asked for.
    pub file: HubFile,
    /// Its path in the HF cache (`.../snapshots/<commit>/<path>`).
    pub path: PathBuf,
    /// The commit the cached copy belongs to.
    pub commit: String,
    /// sha256 of the file, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// True when this call downloaded it, false when it came from the cache.
    pub fetched: bool,
}

impl HubDownload {
    /// The provenance to record in a [`Dataset`].
    pub fn source(&self) -> Source {
        Source::Hub {
            repo: self.file.repo.clone(),
            revision: self.file.revision.clone(),
            commit: self.commit.clone(),
            file: self.file.path.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

/// Parses `spec` (`hf:...` or a route name) and fetches it with [`HubConfig::from_env`].
pub fn fetch_hub(spec: &str) -> Result<HubDownload> {
    fetch_hub_file(&HubConfig::from_env(), &spec.parse()?)
}

/// The cached copy of `file`, or a fresh download when there is none (or it is damaged).
pub fn fetch_hub_file(cfg: &HubConfig, file: &HubFile) -> Result<HubDownload> {
    let repo = Repo::with_revision(file.repo.clone(), RepoType::Dataset, file.revision.clone());
    if let Some(path) = Cache::new(cfg.cache_dir.clone())
        .repo(repo.clone())
        .get(&file.path)
    {
        match describe(file, &path, false) {
            Ok(found) => return Ok(found),
            Err(reason) => {
                if cfg.progress {
                    eprintln!("cached {file} is unusable ({reason}); downloading it again");
                }
                purge(&path);
            }
        }
    }
    download(cfg, file, repo)
}

/// Loads `file` with the loader of `kind`: the same items as the local-file loaders give for
/// the same rows, with a [`Source::Hub`] record. The dataset is named like the local one
/// (`xstest`, `gsm8k-<split>`, `wikitext-2-<split>`; the split comes from the file name).
pub fn load_hub(cfg: &HubConfig, file: &HubFile, kind: HubKind) -> Result<Dataset> {
    let got = fetch_hub_file(cfg, file)?;
    let source = got.source();
    let stem = Path::new(&file.path)
        .file_stem()
        .map_or("file".into(), |s| s.to_string_lossy());
    let split = split_name(&stem);
    match kind {
        HubKind::Xstest => safety::xstest_from(&got.path, source),
        HubKind::Gsm8k => capability::gsm8k_from(&got.path, source, format!("gsm8k-{split}")),
        HubKind::Wikitext => prose::wikitext_from(&got.path, source, format!("wikitext-2-{split}")),
    }
}

/// Downloads `file`, checks it and returns it; anything that fails is removed again.
fn download(cfg: &HubConfig, file: &HubFile, repo: Repo) -> Result<HubDownload> {
    let started = SystemTime::now();
    let api = ApiBuilder::from_cache(Cache::new(cfg.cache_dir.clone()))
        .with_endpoint(cfg.endpoint.clone())
        .with_progress(cfg.progress)
        .build()
        .map_err(|e| hub_error(cfg, file, e))?;
    let path = match api.repo(repo.clone()).download(&file.path) {
        Ok(path) => path,
        Err(e) => {
            remove_partials(
                &cfg.cache_dir.join(repo.folder_name()).join("blobs"),
                started,
            );
            return Err(hub_error(cfg, file, e));
        }
    };
    let checked = describe(file, &path, true).and_then(|found| {
        if file.path.to_ascii_lowercase().ends_with(".parquet") {
            read_parquet(&found.path).map_err(|e| e.to_string())?;
        }
        Ok(found)
    });
    checked.map_err(|cause| {
        purge(&path);
        DatasetError::HubDownload {
            spec: file.to_string(),
            cause: format!("the file is damaged: {cause}"),
        }
    })
}

/// The provenance of the cached file at `path`, or why it cannot be trusted: its sha256 must
/// match the blob name when that is a sha256 (the hub's etag of LFS files).
fn describe(
    file: &HubFile,
    path: &Path,
    fetched: bool,
) -> std::result::Result<HubDownload, String> {
    let (sha256, size) = sha256_file(path).map_err(|e| e.to_string())?;
    let blob = fs::canonicalize(path).map_err(|e| e.to_string())?;
    if let Some(expected) = blob
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| is_hex64(n))
    {
        if expected != sha256 {
            return Err(format!(
                "its sha256 is {sha256} but the hub's checksum is {expected}"
            ));
        }
    }
    let snapshot = file
        .path
        .split('/')
        .try_fold(path, |p, _| p.parent())
        .ok_or_else(|| format!("{} is not inside a snapshot folder", path.display()))?;
    let commit = snapshot
        .file_name()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(HubDownload {
        file: file.clone(),
        path: path.to_path_buf(),
        commit,
        sha256,
        size,
        fetched,
    })
}

/// Removes a cached file: the snapshot link and the blob it points to.
fn purge(path: &Path) {
    let blob = fs::canonicalize(path).ok();
    let _ = fs::remove_file(path);
    if let Some(blob) = blob.filter(|b| b != path) {
        let _ = fs::remove_file(blob);
    }
}

/// Removes the `*.part` files `hf_hub` left in `blobs` from a download that began at `since`.
fn remove_partials(blobs: &Path, since: SystemTime) {
    let Ok(entries) = fs::read_dir(blobs) else {
        return;
    };
    let since = since - Duration::from_secs(2);
    for entry in entries.flatten() {
        let path = entry.path();
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since);
        if recent && path.extension().is_some_and(|e| e == "part") {
            let _ = fs::remove_file(path);
        }
    }
}

/// Maps an `hf_hub` error to what the user can do about it.
fn hub_error(cfg: &HubConfig, file: &HubFile, e: ApiError) -> DatasetError {
    let spec = file.to_string();
    let unreachable = |cause: String| DatasetError::HubUnreachable {
        spec: spec.clone(),
        cache: cfg.cache_dir.clone(),
        cause,
        example: file.route().map_or_else(
            || "a local copy of the file (.parquet, .jsonl, .csv or .txt)".to_string(),
            |r| r.local_example.to_string(),
        ),
    };
    match e {
        ApiError::RequestError(err) => match *err {
            ureq::Error::Status(404, _) => DatasetError::HubRefused {
                spec: spec.clone(),
                reason: format!(
                    "{} has no file `{}` at revision `{}` (HTTP 404); check the repo id, the \
                     revision and the path",
                    cfg.endpoint, file.path, file.revision
                ),
            },
            ureq::Error::Status(code @ (401 | 403), _) => DatasetError::HubRefused {
                spec: spec.clone(),
                reason: format!(
                    "the hub refused access (HTTP {code}): the dataset repo `{}` may not exist, \
                     or be private or gated; check the name, accept its terms on the website and \
                     save an access token in {}",
                    file.repo,
                    cfg.cache_dir.with_file_name("token").display()
                ),
            },
            ureq::Error::Status(code, _) => {
                unreachable(format!("{} answered HTTP {code}", cfg.endpoint))
            }
            ureq::Error::Transport(t) => unreachable(t.to_string()),
        },
        ApiError::MissingHeader(_) | ApiError::InvalidHeader(_) => {
            unreachable(format!("unexpected answer from {}: {e}", cfg.endpoint))
        }
        ApiError::IoError(io) => DatasetError::HubDownload {
            spec,
            cause: format!("the transfer broke off or could not be saved ({io})"),
        },
        other => DatasetError::HubDownload {
            spec,
            cause: other.to_string(),
        },
    }
}
