//! A seeded arithmetic generator: +, - and × in difficulty tiers ([`Tier`]: the operation and
//! the digit counts of the two operands), asked in several phrasings, with the gold answer.
//! Always starts with the fixed probe "What is 15 + 12?".

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Result};
use super::item::{item_id, Dataset, Item, Source};
use super::SplitMix64;

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

/// A difficulty tier: one operation on operands with fixed digit counts (`a op b`, `a` with
/// `digits_a` digits, `b` with `digits_b`). Named `add-2d` when both counts are equal, else
/// `mul-2x1d` (a 2-digit times a 1-digit number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tier {
    /// The operation.
    pub op: ArithOp,
    /// Digits of the first operand (1 to 3).
    pub digits_a: u32,
    /// Digits of the second operand (1 to 3; at most `digits_a` for subtraction).
    pub digits_b: u32,
}

impl Tier {
    /// `op` on a `digits_a`-digit and a `digits_b`-digit operand.
    pub const fn new(op: ArithOp, digits_a: u32, digits_b: u32) -> Tier {
        Tier {
            op,
            digits_a,
            digits_b,
        }
    }

    /// `add-2d`, `mul-2x1d`, ... (the items' `category`).
    pub fn name(&self) -> String {
        let op = self.op.names().2;
        if self.digits_a == self.digits_b {
            format!("{op}-{}d", self.digits_a)
        } else {
            format!("{op}-{}x{}d", self.digits_a, self.digits_b)
        }
    }

    /// The smallest and largest operand with `d` digits (1-digit operands start at 1).
    pub fn operand_range(d: u32) -> (u64, u64) {
        let lo = if d == 1 { 1 } else { 10u64.pow(d - 1) };
        (lo, 10u64.pow(d) - 1)
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::str::FromStr for Tier {
    type Err = DatasetError;

    /// Parses a tier name: `add-2d`, `sub-3x1d`, `mul-2x1d` (operation `add`, `sub` or `mul`,
    /// then the digit counts); the counts are checked by the generator.
    fn from_str(s: &str) -> Result<Tier> {
        let bad = || {
            DatasetError::Config(format!(
                "unknown arithmetic tier `{s}`: expected OP-Nd or OP-NxMd with OP add, sub or \
                 mul (e.g. add-2d, mul-2x1d)"
            ))
        };
        let (op, digits) = s.trim().split_once('-').ok_or_else(bad)?;
        let op = match op {
            "add" => ArithOp::Add,
            "sub" => ArithOp::Sub,
            "mul" => ArithOp::Mul,
            _ => return Err(bad()),
        };
        let digits = digits.strip_suffix('d').ok_or_else(bad)?;
        let parse = |d: &str| d.parse::<u32>().map_err(|_| bad());
        let (a, b) = match digits.split_once('x') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => (parse(digits)?, parse(digits)?),
        };
        Ok(Tier::new(op, a, b))
    }
}

/// How an arithmetic dataset spec names its tiers: `tiers:add-1d,mul-2x1d`, or
/// `tiers:default` ([`DEFAULT_TIERS`]) or `tiers:measured` ([`MEASURED_TIERS`]).
pub const TIER_SPEC_PREFIX: &str = "tiers:";

/// The tiers of a spec starting with [`TIER_SPEC_PREFIX`]; `None` for any other spec.
pub fn parse_tier_spec(spec: &str) -> Option<Result<Vec<Tier>>> {
    let list = spec.trim().strip_prefix(TIER_SPEC_PREFIX)?;
    Some(match list.trim() {
        "default" => Ok(DEFAULT_TIERS.to_vec()),
        "measured" => Ok(MEASURED_TIERS.to_vec()),
        names => names
            .split(',')
            .map(|n| n.parse::<Tier>())
            .collect::<Result<Vec<_>>>()
            .and_then(|tiers| {
                check(&ArithmeticConfig {
                    tiers: tiers.clone(),
                    ..ArithmeticConfig::default()
                })?;
                Ok(tiers)
            }),
    })
}

/// The default difficulty tiers, cycled through in this order. Chosen so the default model
/// (SmolLM2-135M-Instruct, chat template, 2-shot, greedy) answers about half the items correctly:
/// the tiers of [`MEASURED_TIERS`] it solves most of the time (one-digit +, −, ×) and the
/// multi-digit ones it solves sometimes, leaving out those it never solves (3-digit −, 2- and
/// 3-digit ×). The measurement, the command that repeats it and a check on another seed are in
/// docs/benchmarks.md.
pub const DEFAULT_TIERS: [Tier; 7] = [
    Tier::new(ArithOp::Add, 1, 1),
    Tier::new(ArithOp::Add, 2, 2),
    Tier::new(ArithOp::Add, 3, 3),
    Tier::new(ArithOp::Sub, 1, 1),
    Tier::new(ArithOp::Sub, 2, 2),
    Tier::new(ArithOp::Mul, 1, 1),
    Tier::new(ArithOp::Mul, 2, 1),
];

/// Every tier the generator was measured on when [`DEFAULT_TIERS`] were chosen.
pub const MEASURED_TIERS: [Tier; 10] = [
    Tier::new(ArithOp::Add, 1, 1),
    Tier::new(ArithOp::Add, 2, 2),
    Tier::new(ArithOp::Add, 3, 3),
    Tier::new(ArithOp::Sub, 1, 1),
    Tier::new(ArithOp::Sub, 2, 2),
    Tier::new(ArithOp::Sub, 3, 3),
    Tier::new(ArithOp::Mul, 1, 1),
    Tier::new(ArithOp::Mul, 2, 1),
    Tier::new(ArithOp::Mul, 2, 2),
    Tier::new(ArithOp::Mul, 3, 3),
];

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArithmeticConfig {
    /// Number of generated items (the probe comes on top when `include_probe`).
    pub n: usize,
    /// The seed; the same config always gives the same items and ids.
    pub seed: u64,
    /// Difficulty tiers, cycled through in order (item `i` is of tier `i mod tiers`).
    pub tiers: Vec<Tier>,
    /// Put the probe "What is 15 + 12?" (answer 27) first.
    pub include_probe: bool,
}

impl Default for ArithmeticConfig {
    fn default() -> Self {
        ArithmeticConfig {
            n: 300,
            seed: 0,
            tiers: DEFAULT_TIERS.to_vec(),
            include_probe: true,
        }
    }
}

/// Generates the problems: item `i` is of tier `i mod tiers`, so every tier is equally
/// represented; operands and phrasing are drawn by the seed and no (op, a, b, phrasing)
/// repeats. `category` is the tier (`add-2d`); `extra` holds `a`, `b`, the operator symbol `op`
/// (`+`, `-`, `*`) and the `phrasing`.
pub fn arithmetic(cfg: &ArithmeticConfig) -> Result<Dataset> {
    check(cfg)?;
    let mut rng = SplitMix64::for_purpose(cfg.seed, "arithmetic");
    let mut seen = HashSet::from([(ArithOp::Add, 15, 12, 1)]);
    let mut items = Vec::with_capacity(cfg.n + 1);
    if cfg.include_probe {
        let probe_tier = Tier::new(ArithOp::Add, 2, 2);
        items.push(problem(PROBE_ID.to_string(), probe_tier, 15, 12, 1));
    }
    for i in 0..cfg.n {
        let tier = cfg.tiers[i % cfg.tiers.len()];
        let (a, b, p) = fresh(&mut rng, &mut seen, tier)?;
        items.push(problem(item_id(ARITHMETIC_NAME, i), tier, a, b, p));
    }
    let tiers: Vec<String> = cfg.tiers.iter().map(Tier::name).collect();
    let source = Source::Generated {
        generator: "arithmetic-v2".to_string(),
        seed: cfg.seed,
        params: format!(
            "n={}, tiers=[{}], probe={}",
            cfg.n,
            tiers.join(", "),
            cfg.include_probe
        ),
    };
    Ok(Dataset::new(ARITHMETIC_NAME, source, items))
}

/// Rejects configs that cannot be generated.
fn check(cfg: &ArithmeticConfig) -> Result<()> {
    if cfg.tiers.is_empty() {
        return Err(DatasetError::Config(
            "arithmetic needs at least one difficulty tier".into(),
        ));
    }
    for t in &cfg.tiers {
        if let Some(d) = [t.digits_a, t.digits_b]
            .into_iter()
            .find(|d| !(1..=3).contains(d))
        {
            return Err(DatasetError::Config(format!(
                "arithmetic tier {}: digit counts must be 1, 2 or 3, not {d}",
                t.name()
            )));
        }
        if t.op == ArithOp::Sub && t.digits_a < t.digits_b {
            return Err(DatasetError::Config(format!(
                "arithmetic tier {}: subtraction needs the first operand at least as long as \
                 the second (results are never negative)",
                t.name()
            )));
        }
    }
    Ok(())
}

/// Draws operands and a phrasing for `tier` not used before.
fn fresh(
    rng: &mut SplitMix64,
    seen: &mut HashSet<(ArithOp, u64, u64, usize)>,
    tier: Tier,
) -> Result<(u64, u64, usize)> {
    let (lo_a, hi_a) = Tier::operand_range(tier.digits_a);
    let (lo_b, hi_b) = Tier::operand_range(tier.digits_b);
    for _ in 0..MAX_ATTEMPTS {
        let (mut a, mut b) = (rng.range(lo_a, hi_a), rng.range(lo_b, hi_b));
        if tier.op == ArithOp::Sub && a < b {
            // Only when both have the same digit count, so both stay in their ranges.
            std::mem::swap(&mut a, &mut b);
        }
        let p = rng.below(PHRASINGS.len() as u64) as usize;
        if seen.insert((tier.op, a, b, p)) {
            return Ok((a, b, p));
        }
    }
    Err(DatasetError::Config(format!(
        "too many arithmetic items: ran out of distinct `{}` problems",
        tier.name()
    )))
}

/// One item for `a op b` of `tier` in phrasing `p`.
fn problem(id: String, tier: Tier, a: u64, b: u64, p: usize) -> Item {
    let mut item = Item::new(id, phrase(p, tier.op, a, b))
        .with_extra("phrasing", PHRASINGS[p])
        .with_extra("a", a.to_string())
        .with_extra("b", b.to_string())
        .with_extra("op", tier.op.names().0);
    item.answer = Some(tier.op.apply(a, b).to_string());
    item.category = Some(tier.name());
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_specs_parse_and_bad_ones_name_the_tier() {
        let tiers = parse_tier_spec("tiers:add-1d, mul-2x1d").unwrap().unwrap();
        assert_eq!(
            tiers,
            [Tier::new(ArithOp::Add, 1, 1), Tier::new(ArithOp::Mul, 2, 1)]
        );
        for t in MEASURED_TIERS {
            assert_eq!(t.name().parse::<Tier>().unwrap(), t);
        }
        assert_eq!(
            parse_tier_spec("tiers:measured").unwrap().unwrap(),
            MEASURED_TIERS
        );
        assert!(parse_tier_spec("harmbench").is_none());
        let e = parse_tier_spec("tiers:add-1d,div-2d").unwrap().unwrap_err();
        assert!(e.to_string().contains("`div-2d`"), "{e}");
        let e = parse_tier_spec("tiers:add-5d").unwrap().unwrap_err();
        assert!(e.to_string().contains("add-5d"), "{e}");
    }

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
