//! A seeded arithmetic generator: +, - and × on 1-, 2- and 3-digit operands, asked in several
//! phrasings, with the gold answer. Always starts with the fixed probe "What is 15 + 12?".

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Result};
use super::item::{item_id, Dataset, Item, Source};
use super::rng::SplitMix64;

/// Name of the generated dataset (and prefix of its ids).
pub const ARITHMETIC_NAME: &str = "arithmetic";
/// Id of the fixed probe item.
pub const PROBE_ID: &str = "arithmetic-probe";
/// Text of the fixed probe item; its answer is 27.
pub const PROBE_TEXT: &str = "What is 15 + 12?";
/// Attempts per item before giving up on finding a new problem.
const MAX_ATTEMPTS: usize = 10_000;

/// An arithmetic operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArithOp {
    /// Addition.
    Add,
    /// Subtraction; operands are ordered so the result is never negative.
    Sub,
    /// Multiplication.
    Mul,
}

impl ArithOp {
    /// `(symbol, word, short name)`; the symbol is ASCII so every tokenizer sees it the same.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ArithOp::Add => ("+", "plus", "add"),
            ArithOp::Sub => ("-", "minus", "sub"),
            ArithOp::Mul => ("*", "times", "mul"),
        }
    }

    /// `a op b`.
    fn apply(self, a: u64, b: u64) -> u64 {
        match self {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
            ArithOp::Mul => a * b,
        }
    }
}

/// The ways a problem is asked.
const PHRASINGS: [&str; 6] = [
    "equation",
    "what-is",
    "what-is-words",
    "compute",
    "calculate-words",
    "get-when",
];

/// The prompt for `a op b` in phrasing `p` (an index into [`PHRASINGS`]).
fn phrase(p: usize, op: ArithOp, a: u64, b: u64) -> String {
    let (sym, word, _) = op.names();
    match p {
        0 => format!("{a} {sym} {b} ="),
        1 => format!("What is {a} {sym} {b}?"),
        2 => format!("What is {a} {word} {b}?"),
        3 => format!("Compute {a} {sym} {b}."),
        4 => format!("Calculate {a} {word} {b}."),
        _ => match op {
            ArithOp::Add => format!("What do you get when you add {a} and {b}?"),
            ArithOp::Sub => format!("What do you get when you subtract {b} from {a}?"),
            ArithOp::Mul => format!("What do you get when you multiply {a} by {b}?"),
        },
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArithmeticConfig {
    /// Number of generated items (the probe comes on top when `include_probe`).
    pub n: usize,
    /// The seed; the same config always gives the same items and ids.
    pub seed: u64,
    /// Operations, cycled through in order.
    pub ops: Vec<ArithOp>,
    /// Operand digit counts (each 1, 2 or 3); both operands of a problem have the same count.
    pub digits: Vec<u32>,
    /// Put the probe "What is 15 + 12?" (answer 27) first.
    pub include_probe: bool,
}

impl Default for ArithmeticConfig {
    fn default() -> Self {
        ArithmeticConfig {
            n: 300,
            seed: 0,
            ops: vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul],
            digits: vec![1, 2, 3],
            include_probe: true,
        }
    }
}

/// Generates the problems: item `i` takes the (op, digits) cell `i mod cells`, so every cell
/// is equally represented; operands and phrasing are drawn by the seed and no (op, a, b,
/// phrasing) repeats. `category` is e.g. `add-2d`, `extra.phrasing` names the phrasing.
pub fn arithmetic(cfg: &ArithmeticConfig) -> Result<Dataset> {
    check(cfg)?;
    let mut rng = SplitMix64::for_purpose(cfg.seed, "arithmetic");
    let mut seen = HashSet::from([(ArithOp::Add, 15, 12, 1)]);
    let mut items = Vec::with_capacity(cfg.n + 1);
    if cfg.include_probe {
        items.push(problem(PROBE_ID.to_string(), ArithOp::Add, 15, 12, 1, 2));
    }
    let cells: Vec<(ArithOp, u32)> = cfg
        .ops
        .iter()
        .flat_map(|&op| cfg.digits.iter().map(move |&d| (op, d)))
        .collect();
    for i in 0..cfg.n {
        let (op, d) = cells[i % cells.len()];
        let (a, b, p) = fresh(&mut rng, &mut seen, op, d)?;
        items.push(problem(item_id(ARITHMETIC_NAME, i), op, a, b, p, d));
    }
    let source = Source::Generated {
        generator: "arithmetic-v1".to_string(),
        seed: cfg.seed,
        params: format!(
            "n={}, ops={:?}, digits={:?}, probe={}",
            cfg.n, cfg.ops, cfg.digits, cfg.include_probe
        ),
    };
    Ok(Dataset::new(ARITHMETIC_NAME, source, items))
}

/// Rejects configs that cannot be generated.
fn check(cfg: &ArithmeticConfig) -> Result<()> {
    if cfg.ops.is_empty() || cfg.digits.is_empty() {
        return Err(DatasetError::Config(
            "arithmetic needs at least one operation and one digit count".into(),
        ));
    }
    if let Some(d) = cfg.digits.iter().find(|d| !(1..=3).contains(*d)) {
        return Err(DatasetError::Config(format!(
            "arithmetic digit counts must be 1, 2 or 3, not {d}"
        )));
    }
    Ok(())
}

/// Draws operands and a phrasing for `op` with `d`-digit operands not used before.
fn fresh(
    rng: &mut SplitMix64,
    seen: &mut HashSet<(ArithOp, u64, u64, usize)>,
    op: ArithOp,
    d: u32,
) -> Result<(u64, u64, usize)> {
    let lo = if d == 1 { 1 } else { 10u64.pow(d - 1) };
    let hi = 10u64.pow(d) - 1;
    for _ in 0..MAX_ATTEMPTS {
        let (mut a, mut b) = (rng.range(lo, hi), rng.range(lo, hi));
        if op == ArithOp::Sub && a < b {
            std::mem::swap(&mut a, &mut b);
        }
        let p = rng.below(PHRASINGS.len() as u64) as usize;
        if seen.insert((op, a, b, p)) {
            return Ok((a, b, p));
        }
    }
    Err(DatasetError::Config(format!(
        "too many arithmetic items: ran out of distinct {}-digit `{}` problems",
        d,
        op.names().2
    )))
}

/// One item for `a op b` in phrasing `p` with `d`-digit operands.
fn problem(id: String, op: ArithOp, a: u64, b: u64, p: usize, d: u32) -> Item {
    let mut item = Item::new(id, phrase(p, op, a, b))
        .with_extra("phrasing", PHRASINGS[p])
        .with_extra("a", a.to_string())
        .with_extra("b", b.to_string());
    item.answer = Some(op.apply(a, b).to_string());
    item.category = Some(format!("{}-{d}d", op.names().2));
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phrasing_states_both_operands() {
        for p in 0..PHRASINGS.len() {
            for op in [ArithOp::Add, ArithOp::Sub, ArithOp::Mul] {
                let text = phrase(p, op, 731, 48);
                assert!(text.contains("731") && text.contains("48"), "{text}");
            }
        }
        assert_eq!(phrase(1, ArithOp::Add, 15, 12), PROBE_TEXT);
    }
}
