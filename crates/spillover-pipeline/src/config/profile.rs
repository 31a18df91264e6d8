//! Profiles size the benchmarks: `quick` is sized so the default experiment finishes in about ten
//! minutes on a 2-core CPU, `standard` for tighter intervals, `full` for every item. They also set
//! the default number of intervention seeds: 1 for `quick`, 3 for `standard` and `full`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    #[default]
    Quick,
    Standard,
    Full,
}

impl Profile {
    /// The number of intervention seeds when the experiment does not set `seeds`.
    pub fn seeds(self) -> usize {
        match self {
            Profile::Quick => 1,
            Profile::Standard | Profile::Full => 3,
        }
    }
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

    /// The number of items `benchmark` evaluates: its `limit` (0 = every item), else the
    /// profile's size; `usize::MAX` (every item, cut to the dataset's size) for 0 and the full
    /// profile.
    pub fn items(profile: Profile, benchmark: &str, limit: Option<usize>) -> usize {
        match limit {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => Self::limit(profile, benchmark).unwrap_or(usize::MAX),
        }
    }

    /// `items` as text: a number, or "every item".
    pub fn describe(profile: Profile, benchmark: &str, limit: Option<usize>) -> String {
        match Self::items(profile, benchmark, limit) {
            usize::MAX => "every item".into(),
            n => format!("{n} items"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_full_repeat_the_intervention_with_three_seeds() {
        assert_eq!(Profile::Quick.seeds(), 1);
        assert_eq!(Profile::Standard.seeds(), 3);
        assert_eq!(Profile::Full.seeds(), 3);
    }

    #[test]
    fn limit_zero_is_every_item_not_the_profile_size() {
        // `benchmarks.refusal.limit = 0` once fell back to the quick profile's 48 items.
        assert_eq!(
            ProfileSizes::items(Profile::Quick, "refusal", Some(0)),
            usize::MAX
        );
        assert_eq!(ProfileSizes::items(Profile::Quick, "refusal", Some(5)), 5);
        assert_eq!(ProfileSizes::items(Profile::Quick, "refusal", None), 48);
        assert_eq!(
            ProfileSizes::items(Profile::Full, "refusal", None),
            usize::MAX
        );
        assert_eq!(
            ProfileSizes::describe(Profile::Quick, "refusal", Some(0)),
            "every item"
        );
    }
}
