//! Rows where the model is at the floor or at chance on a capability rate — the one place that
//! says when. A change measured there says little about the capability (nothing to lose at the
//! floor; nothing above guessing at chance), so such rows are marked in `results.json` and the
//! table and kept out of the findings' headline sentences. They stay in the Holm family: the mark
//! is read from the data, and leaving rows out of the family because of their data would choose
//! the tests after seeing the results.
//!
//! Only binary capability metrics have a chance level (`MetricSpec::chance`): 0 for a free-form
//! answer (arithmetic and GSM8K accuracy, HumanEval pass@1), 1/k for a choice among k (MMLU: 1/4).
//! - **floor** (chance level 0): the rate is at most [`FLOOR_RATE`] before and after.
//! - **chance** (chance level c > 0): the before rate's interval (Wilson, at `stats.confidence`)
//!   contains c — the model is not shown to do better than guessing before the intervention.

use serde::{Deserialize, Serialize};
use spillover_evals::stats::Interval;

/// A rate at or below this before and after is at the floor.
pub const FLOOR_RATE: f64 = 0.05;

/// Why a row's change says little about the capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// At most [`FLOOR_RATE`] before and after.
    Floor,
    /// The before rate is not distinguishable from guessing.
    Chance,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Floor => "floor",
            Mark::Chance => "chance",
        }
    }
}

/// The mark of a rate with chance level `chance` (None: the metric has none) whose before and
/// after rates are `before` and `after`.
pub fn mark(chance: Option<f64>, before: &Interval, after: &Interval) -> Option<Mark> {
    let c = chance?;
    if c <= 0.0 {
        (before.estimate <= FLOOR_RATE && after.estimate <= FLOOR_RATE).then_some(Mark::Floor)
    } else {
        (before.lo <= c && c <= before.hi).then_some(Mark::Chance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillover_evals::stats::wilson;

    fn rate(k: u64, n: u64) -> Interval {
        wilson(k, n, 0.95).unwrap()
    }

    #[test]
    fn floor_needs_both_rates_low_and_a_free_form_answer() {
        assert_eq!(mark(Some(0.0), &rate(0, 8), &rate(0, 8)), Some(Mark::Floor));
        assert_eq!(
            mark(Some(0.0), &rate(2, 100), &rate(5, 100)),
            Some(Mark::Floor)
        );
        // 15% → 0% is a measurable loss, not a floor.
        assert_eq!(mark(Some(0.0), &rate(15, 100), &rate(0, 100)), None);
        assert_eq!(mark(Some(0.0), &rate(0, 100), &rate(20, 100)), None);
        // No chance level (refusal): never marked.
        assert_eq!(mark(None, &rate(0, 8), &rate(0, 8)), None);
    }

    #[test]
    fn chance_is_tested_with_the_before_rates_interval() {
        // 31 of 120 (25.8%): the interval holds 25%.
        assert_eq!(
            mark(Some(0.25), &rate(31, 120), &rate(31, 120)),
            Some(Mark::Chance)
        );
        // 45 of 120 (37.5%, interval about [29.4, 46.4]): above chance.
        assert_eq!(mark(Some(0.25), &rate(45, 120), &rate(31, 120)), None);
        // Below chance, reliably: not "at" chance either.
        assert_eq!(mark(Some(0.25), &rate(5, 200), &rate(5, 200)), None);
    }
}
