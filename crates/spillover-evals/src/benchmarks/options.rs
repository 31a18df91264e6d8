//! Options of a benchmark run, with per-benchmark defaults.

use spillover_engine::{Batching, Sampling};

use super::{BenchmarkKind, Error, Result};

/// Worked examples before each arithmetic item by default.
pub const ARITHMETIC_FEW_SHOT: usize = 2;

/// How a benchmark runs. Start from [`BenchOptions::for_kind`] and change what you need.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Generation budget per response (KL: the length of the base response it is measured on).
    pub max_new_tokens: usize,
    /// Seed of every random choice (sampling streams, few-shot examples).
    pub seed: u64,
    /// Worked examples put before each item (arithmetic, GSM8K, MMLU); 0 = zero-shot.
    pub few_shot: usize,
    /// Batches within a token budget; `progress` draws a per-benchmark bar (items/s).
    pub batching: Batching,
    /// How tokens are chosen: greedy unless the benchmark samples (diversity); its seed is
    /// replaced by [`BenchOptions::seed`].
    pub sampling: Sampling,
    /// Completions per item (HumanEval pass@k needs n ≥ k samples with a temperature > 0).
    pub samples: usize,
    /// The k of the pass@k values to report (each at most `samples`).
    pub pass_k: Vec<usize>,
    /// Perplexity: the most tokens the model sees at once (disjoint windows, as
    /// lm-evaluation-harness's `loglikelihood_rolling`).
    pub window: usize,
}

impl BenchOptions {
    /// The defaults of `kind`: 64 new tokens for refusal, 32 for arithmetic (`a op b = c` after
    /// its two worked examples), 256 for GSM8K, 384
    /// for HumanEval, 32 for the KL response, 128 for diversity (seeded sampling at temperature
    /// 1.0, top-p 0.95); greedy everywhere else; zero-shot except arithmetic (2 examples); one
    /// sample.
    pub fn for_kind(kind: BenchmarkKind) -> BenchOptions {
        let max_new_tokens = match kind {
            BenchmarkKind::Refusal | BenchmarkKind::OverRefusal => 64,
            BenchmarkKind::Arithmetic => 32,
            BenchmarkKind::Gsm8k => 256,
            BenchmarkKind::Humaneval => 384,
            BenchmarkKind::Kl => 32,
            BenchmarkKind::Diversity => 128,
            BenchmarkKind::Mmlu | BenchmarkKind::Perplexity => 0,
        };
        let sampling = match kind {
            BenchmarkKind::Diversity => Sampling {
                temperature: 1.0,
                top_k: 0,
                top_p: 0.95,
                seed: 0,
            },
            _ => Sampling::greedy(),
        };
        BenchOptions {
            max_new_tokens,
            seed: 0,
            few_shot: if kind == BenchmarkKind::Arithmetic {
                ARITHMETIC_FEW_SHOT
            } else {
                0
            },
            batching: Batching::default(),
            sampling,
            samples: 1,
            pass_k: vec![1],
            window: 1024,
        }
    }

    /// The sampling options with this run's seed.
    pub fn seeded_sampling(&self) -> Sampling {
        self.sampling_with_seed(self.seed)
    }

    /// The sampling options with `seed` (each engine call of a run gets its own).
    pub(crate) fn sampling_with_seed(&self, seed: u64) -> Sampling {
        Sampling {
            seed,
            ..self.sampling.clone()
        }
    }

    /// Checks the ranges: a generation budget for generating benchmarks, valid sampling,
    /// 1 ≤ k ≤ samples, a positive window; several samples need sampling.
    pub fn validate(&self, kind: BenchmarkKind) -> Result<()> {
        let bad = |m: String| Err(Error::BadInput(format!("{kind}: {m}")));
        let generates = !matches!(kind, BenchmarkKind::Mmlu | BenchmarkKind::Perplexity);
        if generates && self.max_new_tokens == 0 {
            return bad("max_new_tokens must be at least 1".into());
        }
        if let Err(m) = self.sampling.validate() {
            return bad(m);
        }
        if self.samples == 0 {
            return bad("samples must be at least 1".into());
        }
        if self.samples > 1 && self.sampling.is_greedy() {
            return bad(format!(
                "{} samples per item with greedy decoding would be {} copies of one answer; \
                 set a temperature > 0",
                self.samples, self.samples
            ));
        }
        if let Some(k) = self.pass_k.iter().find(|&&k| k == 0 || k > self.samples) {
            return bad(format!(
                "pass@{k} needs 1 ≤ k ≤ samples ({} samples per item)",
                self.samples
            ));
        }
        if self.window < 2 {
            return bad(format!(
                "the perplexity window must be at least 2 tokens, got {}",
                self.window
            ));
        }
        Ok(())
    }
}
