//! Agreement between a judge and human labels: confusion matrix, raw agreement, Cohen's kappa.

use super::Label;

/// Counts of (human label, judge label) pairs; `counts[human][judge]`, indexed by [`Label::index`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub counts: [[usize; 3]; 3],
}

impl Confusion {
    /// Builds the matrix from (human, judge) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Label, Label)>) -> Confusion {
        let mut c = Confusion::default();
        for (h, j) in pairs {
            c.counts[h.index()][j.index()] += 1;
        }
        c
    }

    /// Number of items.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Share of items on which judge and human agree (NaN when empty).
    pub fn agreement(&self) -> f64 {
        let diag: usize = (0..3).map(|i| self.counts[i][i]).sum();
        diag as f64 / self.total() as f64
    }

    /// Agreement on refused vs not refused (compliance and degenerate together; NaN when empty).
    pub fn refusal_agreement(&self) -> f64 {
        let r = Label::Refusal.index();
        let same: usize = (0..3)
            .flat_map(|h| (0..3).map(move |j| (h, j)))
            .filter(|&(h, j)| (h == r) == (j == r))
            .map(|(h, j)| self.counts[h][j])
            .sum();
        same as f64 / self.total() as f64
    }

    /// The share of items the humans labelled a refusal, and the share the judge did.
    pub fn refusal_rates(&self) -> (f64, f64) {
        let r = Label::Refusal.index();
        let n = self.total() as f64;
        let human: usize = self.counts[r].iter().sum();
        let judge: usize = (0..3).map(|h| self.counts[h][r]).sum();
        (human as f64 / n, judge as f64 / n)
    }

    /// Cohen's kappa: (p_o − p_e) / (1 − p_e), with p_e from the row and column margins.
    /// NaN when undefined (no items, or both raters use a single label).
    pub fn kappa(&self) -> f64 {
        let n = self.total() as f64;
        let p_o = self.agreement();
        let p_e: f64 = (0..3)
            .map(|k| {
                let row: usize = self.counts[k].iter().sum();
                let col: usize = (0..3).map(|h| self.counts[h][k]).sum();
                (row as f64 / n) * (col as f64 / n)
            })
            .sum();
        if p_e >= 1.0 {
            f64::NAN
        } else {
            (p_o - p_e) / (1.0 - p_e)
        }
    }

    /// The matrix with the judge's degenerate verdicts counted as `label` (for human label sets
    /// that fold degenerate answers into another class, such as PyRIT's "refusal or off-topic").
    pub fn degenerate_as(&self, label: Label) -> Confusion {
        let mut c = *self;
        let (d, l) = (Label::Degenerate.index(), label.index());
        for row in &mut c.counts {
            row[l] += row[d];
            row[d] = 0;
        }
        c
    }

    /// The matrix as a small text table (rows: human, columns: judge); empty rows are left out.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{:>12} | {:>10} {:>10} {:>10}\n",
            "human \\ judge", "refusal", "compliance", "degenerate"
        );
        for h in Label::ALL {
            let row = self.counts[h.index()];
            if row.iter().sum::<usize>() > 0 {
                s += &format!(
                    "{:>13} | {:>10} {:>10} {:>10}\n",
                    h.as_str(),
                    row[0],
                    row[1],
                    row[2]
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Label::*;

    fn matrix(yy: usize, yn: usize, ny: usize, nn: usize) -> Confusion {
        let mut c = Confusion::default();
        c.counts[0][0] = yy;
        c.counts[0][1] = yn;
        c.counts[1][0] = ny;
        c.counts[1][1] = nn;
        c
    }

    #[test]
    fn kappa_matches_the_wikipedia_worked_example() {
        // Wikipedia, "Cohen's kappa", first example: 50 proposals, both yes 20, A yes / B no 5,
        // A no / B yes 10, both no 15 → p_o = 0.7, p_e = 0.5, κ = 0.4.
        let c = matrix(20, 5, 10, 15);
        assert!((c.agreement() - 0.7).abs() < 1e-12);
        assert!((c.kappa() - 0.4).abs() < 1e-12);
    }

    #[test]
    fn kappa_of_a_second_published_example() {
        // Wikipedia, "Cohen's kappa", the two tables with equal agreement (60 of 100):
        // 45/15/25/15 → κ = 0.1304 (p_e = 0.54) and 25/35/5/35 → κ = 0.2593 (p_e = 0.46).
        assert!((matrix(45, 15, 25, 15).kappa() - 0.06 / 0.46).abs() < 1e-12);
        assert!((matrix(25, 35, 5, 35).kappa() - 0.14 / 0.54).abs() < 1e-12);
    }

    #[test]
    fn perfect_agreement_has_kappa_one_and_a_constant_rater_is_undefined() {
        let c = Confusion::from_pairs([(Refusal, Refusal), (Compliance, Compliance)]);
        assert_eq!((c.agreement(), c.kappa()), (1.0, 1.0));
        assert!(Confusion::from_pairs([(Refusal, Refusal)]).kappa().is_nan());
    }

    #[test]
    fn refused_vs_not_pools_compliance_and_degenerate() {
        // 5 items: refusal→refusal, refusal→degenerate, compliance→degenerate,
        // degenerate→compliance, compliance→refusal. Three-way agreement 1/5; refused-vs-not:
        // items 1, 3 and 4 agree → 3/5. Humans call 2 of 5 refusals, the judge 2 of 5.
        let c = Confusion::from_pairs([
            (Refusal, Refusal),
            (Refusal, Degenerate),
            (Compliance, Degenerate),
            (Degenerate, Compliance),
            (Compliance, Refusal),
        ]);
        assert_eq!(c.agreement(), 0.2);
        assert_eq!(c.refusal_agreement(), 0.6);
        assert_eq!(c.refusal_rates(), (0.4, 0.4));
    }

    #[test]
    fn degenerate_verdicts_can_be_folded_into_another_label() {
        let c = Confusion::from_pairs([(Refusal, Degenerate), (Compliance, Degenerate)]);
        let f = c.degenerate_as(Refusal);
        assert_eq!(f.counts[0][0], 1);
        assert_eq!(f.counts[1][0], 1);
        assert_eq!(f.total(), 2);
        assert_eq!(f.agreement(), 0.5);
    }
}
