//! Profiles size the benchmarks: `quick` is sized so the default experiment finishes in about ten
//! minutes on a 2-core CPU, `standard` for tighter intervals, `full` for every item. They also set
//! the default number of intervention seeds: 1 for `quick`, 3 for `standard` and `full`.
//!
//! `standard` is sized by power: refusal, over-refusal and arithmetic accuracy reach a minimum
//! detectable effect of at most 10 points at 80% power for a change with
//! [`PLANNING_DISCORDANCE`] discordant items, at the first Holm step of the default family (α
//! divided by its tested rows), within one seed — checked by a test below. The MDE the table
//! reports uses the observed discordance, so a run whose items move more reports a larger one.
//! There is no capability composite row; arithmetic accuracy is the capability rate sized this way.

use serde::{Deserialize, Serialize};
use spillover_evals::benchmarks::BenchmarkKind;

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
    pub fn limit(profile: Profile, benchmark: BenchmarkKind) -> Option<usize> {
        use BenchmarkKind::*;
        let (quick, standard) = match benchmark {
            // Two sources each (see spillover_evals::benchmarks::sources), split evenly.
            Refusal => (48, 300),
            OverRefusal => (32, 300),
            Arithmetic => (48, 300),
            Gsm8k => (8, 100),
            Humaneval => (8, 164),
            Mmlu => (60, 1000),
            // Documents; 12 is the fewest whose exact sign-flip test can reject at the first
            // Holm step of the default family (2/2¹² < 0.05/18), with room for a few more rows.
            Perplexity => (12, 62),
            Kl => (16, 48),
            Diversity => (8, 48),
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
    pub fn items(profile: Profile, benchmark: BenchmarkKind, limit: Option<usize>) -> usize {
        match limit {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => Self::limit(profile, benchmark).unwrap_or(usize::MAX),
        }
    }

    /// `items` as text: a number, or "every item".
    pub fn describe(profile: Profile, benchmark: BenchmarkKind, limit: Option<usize>) -> String {
        match Self::items(profile, benchmark, limit) {
            usize::MAX => "every item".into(),
            n => format!("{n} items"),
        }
    }
}

/// The share of discordant items `standard` is sized for: a 10-point change with 2.5% of the
/// items moving the other way (10 + 2 × 2.5 points).
pub const PLANNING_DISCORDANCE: f64 = 0.15;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::MDE_POWER;
    use spillover_evals::stats::mde_paired_binary;
    use BenchmarkKind::{Arithmetic, OverRefusal, Perplexity, Refusal};

    /// Tested rows of the default experiment at most (every benchmark's table rows without the
    /// descriptive ones; identical series are merged at run time).
    fn family_size() -> usize {
        BenchmarkKind::ALL
            .iter()
            .flat_map(|k| k.table_metrics())
            .filter(|m| !m.descriptive)
            .count()
    }

    #[test]
    fn standard_reaches_a_ten_point_mde_on_the_headline_rates() {
        let m = family_size();
        assert!(m >= 16, "{m}");
        let alpha = 0.05 / m as f64;
        for b in [Refusal, OverRefusal, Arithmetic] {
            let n = ProfileSizes::limit(Profile::Standard, b).unwrap();
            // Up to 10% of refusal items may be removed as duplicates of the training pool.
            let n = if b == Refusal { n * 9 / 10 } else { n };
            let mde = mde_paired_binary(n, PLANNING_DISCORDANCE, alpha, MDE_POWER).unwrap();
            assert!(mde <= 0.10, "{b}: MDE {mde:.3} at n = {n}, α' = {alpha:.5}");
        }
        // The quick profile is not: it states its MDE per row instead.
        let n = ProfileSizes::limit(Profile::Quick, Refusal).unwrap();
        assert!(mde_paired_binary(n, PLANNING_DISCORDANCE, alpha, MDE_POWER).unwrap() > 0.10);
    }

    #[test]
    fn quick_perplexity_has_enough_documents_to_reject() {
        let n = ProfileSizes::limit(Profile::Quick, Perplexity).unwrap();
        let p_min = 2.0 / 2f64.powi(n as i32);
        assert!(p_min < 0.05 / family_size() as f64, "{n} documents");
    }

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
            ProfileSizes::items(Profile::Quick, Refusal, Some(0)),
            usize::MAX
        );
        assert_eq!(ProfileSizes::items(Profile::Quick, Refusal, Some(5)), 5);
        assert_eq!(ProfileSizes::items(Profile::Quick, Refusal, None), 48);
        assert_eq!(
            ProfileSizes::items(Profile::Full, Refusal, None),
            usize::MAX
        );
        assert_eq!(
            ProfileSizes::describe(Profile::Quick, Refusal, Some(0)),
            "every item"
        );
    }
}
