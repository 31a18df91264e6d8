//! The fully resolved experiment: every default that applies written out (the number of seeds, the
//! intervention's
//! LoRA settings, epochs, learning rate and batch size; each benchmark's item count, token budget
//! and few-shot examples), so `config.resolved.toml` and the report headers describe a run one
//! way, whether a key was written in the file or left to its default.

use super::profile::ProfileSizes;
use super::sections::{Experiment, InterventionKind};
use crate::interventions::training::TrainSettings;
use spillover_evals::benchmarks::{BenchOptions, BenchmarkKind};

/// Prompts per class of a refusal direction, by default.
pub const DEFAULT_DIRECTION_PROMPTS: usize = 64;
/// α of `interpolate`, by default.
pub const DEFAULT_ALPHA: f64 = 0.5;

impl Experiment {
    /// This experiment with every applicable default filled in (the same experiment: it runs
    /// identically, and resolving it again changes nothing).
    pub fn resolved(mut self) -> Experiment {
        self.seeds = Some(self.seed_count());
        let section = &mut self.intervention;
        let kind = section.kind;
        if kind == InterventionKind::Interpolate {
            section.from.get_or_insert(InterventionKind::LoraSft);
            section.alpha.get_or_insert(DEFAULT_ALPHA);
        }
        if kind.trains() {
            let s = TrainSettings::resolve(section, 0);
            section.lora = s.lora;
            section.full_targets = s.full_targets;
            section.epochs = Some(s.train.epochs);
            section.lr = Some(s.train.lr);
            section.batch_size = Some(s.train.batch_size * s.train.grad_accum);
        }
        if kind.uses_direction() {
            section
                .direction_prompts
                .get_or_insert(DEFAULT_DIRECTION_PROMPTS);
        }
        let profile = self.profile;
        for kind in BenchmarkKind::ALL {
            let Some(b) = self.benchmarks.section_mut(kind) else {
                continue;
            };
            if b.limit.is_none() {
                // usize::MAX (every item) is written as 0, its spelling in the file.
                let n = ProfileSizes::items(profile, kind, None);
                b.limit = Some(if n == usize::MAX { 0 } else { n });
            }
            let o = BenchOptions::for_kind(kind);
            if o.max_new_tokens > 0 {
                b.max_new_tokens.get_or_insert(o.max_new_tokens);
            }
            if matches!(
                kind,
                BenchmarkKind::Arithmetic | BenchmarkKind::Gsm8k | BenchmarkKind::Mmlu
            ) {
                b.few_shot.get_or_insert(o.few_shot);
            }
        }
        self
    }
}
