//! Profiles size the benchmarks: `quick` is sized so the default experiment finishes in about ten
//! minutes on a 2-core CPU, `standard` for tighter intervals, `full` for every item.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    #[default]
    Quick,
    Standard,
    Full,
}

/// Items per benchmark under a profile (None = every item of the dataset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileSizes;

impl ProfileSizes {
    /// The default item count of `benchmark` under `profile`.
    pub fn limit(profile: Profile, benchmark: &str) -> Option<usize> {
        let (quick, standard) = match benchmark {
            "refusal" => (48, 200),
            "over_refusal" => (32, 150),
            "arithmetic" => (48, 300),
            "gsm8k" => (8, 100),
            "humaneval" => (8, 164),
            "mmlu" => (60, 1000),
            "perplexity" => (6, 64),
            "kl" => (16, 48),
            "diversity" => (8, 48),
            _ => (32, 100),
        };
        match profile {
            Profile::Quick => Some(quick),
            Profile::Standard => Some(standard),
            Profile::Full => None,
        }
    }
}
