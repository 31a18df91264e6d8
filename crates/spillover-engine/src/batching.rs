//! Batch sizes from a token budget, and progress bars.
//!
//! Memory grows with the number of positions a batch holds at once (the KV cache and activations
//! scale with rows × positions), so work is split into batches whose rows × longest-row positions
//! stay within a token budget. For SmolLM2-135M in f32 a cached position costs 30 layers × 2 ×
//! 192 floats ≈ 46 KB, so the default budget of 16,384 positions keeps the cache near 750 MB.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Default number of positions (rows × longest row) one batch may hold.
pub const DEFAULT_TOKEN_BUDGET: usize = 16_384;

/// Most positions one whole-sequence forward (prefill, scoring) runs at once on the CPU, whatever
/// the budget allows. The budget bounds memory; this bounds the working set: past ~2k positions
/// the activations of a layer no longer stay in the CPU caches between its matrix products, and
/// the same scoring work took 1.6× the CPU time at 16k positions per forward (measured on the
/// project's 2-core AVX-512 machine; docs/performance.md). Accelerators get the whole budget.
pub const CPU_FORWARD_POSITIONS: usize = 2048;

/// How work is cut into batches, and whether a progress bar is drawn.
#[derive(Clone, Debug)]
pub struct Batching {
    /// Rows × longest-row positions allowed in one batch (at least one row always runs).
    pub token_budget: usize,
    /// Upper bound on rows per batch, whatever the budget allows (None: no bound).
    pub max_batch: Option<usize>,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            token_budget: DEFAULT_TOKEN_BUDGET,
            max_batch: None,
            progress: false,
        }
    }
}

impl Batching {
    /// The batching of whole-sequence forwards on `device`: on the CPU the budget is capped at
    /// [`CPU_FORWARD_POSITIONS`].
    pub fn for_forward(&self, device: &candle_core::Device) -> Batching {
        let mut b = self.clone();
        if device.is_cpu() {
            b.token_budget = b.token_budget.min(CPU_FORWARD_POSITIONS);
        }
        b
    }

    /// Splits `items` (already in processing order) into consecutive batches; `cost(i)` is the
    /// positions item `i` needs. A batch's cost is its row count times its largest item cost.
    pub fn plan(&self, items: &[usize], cost: impl Fn(usize) -> usize) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut cur: Vec<usize> = Vec::new();
        let mut widest = 0;
        for &i in items {
            let w = widest.max(cost(i));
            let full = self.max_batch.is_some_and(|m| cur.len() >= m);
            if !cur.is_empty() && (full || (cur.len() + 1) * w > self.token_budget) {
                out.push(std::mem::take(&mut cur));
                widest = 0;
            }
            widest = widest.max(cost(i));
            cur.push(i);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    /// A progress bar counting `unit` up to `total`, with a rate; hidden unless asked for and
    /// stderr is a terminal.
    pub fn bar(&self, total: u64, what: &str, unit: &str) -> ProgressBar {
        if !self.progress || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = format!(
            "{what} {{bar:30}} {{pos}}/{{len}} {unit} [{{elapsed}} < {{eta}}, {{per_sec}}]"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar
    }
}
