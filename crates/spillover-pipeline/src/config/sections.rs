//! The sections of an experiment file. Every struct rejects unknown keys; every field has a
//! documented default, so an empty file is the default experiment at the `quick` profile.

use super::benchmarks::Benchmarks;
use super::profile::Profile;
use serde::{Deserialize, Serialize};
use spillover_evals::benchmarks::BenchmarkKind;
use std::collections::BTreeMap;

/// Benchmarks the pipeline knows, in report order (the names of `BenchmarkKind::ALL`).
pub fn benchmark_names() -> Vec<&'static str> {
    BenchmarkKind::ALL.iter().map(|k| k.name()).collect()
}

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Names the run folder (`runs/<name>-<hash>`).
    #[serde(default = "default_name")]
    pub name: String,
    /// Benchmark sizes: quick, standard or full.
    #[serde(default)]
    pub profile: Profile,
    /// Seed of the data splits (which prompts train, which evaluate).
    #[serde(default)]
    pub seed: u64,
    /// Repeat the intervention with this many seeds (seed, seed+1, ...): each seed draws its own
    /// training prompts and trains with its own seed. Unset: the profile's default
    /// ([`Profile::seeds`]); the resolved experiment always has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<usize>,
    #[serde(default)]
    pub model: ModelSection,
    #[serde(default)]
    pub data: DataSection,
    #[serde(default)]
    pub intervention: InterventionSection,
    /// Benchmarks to run: every benchmark, with `[benchmarks.<name>]` sections merged over
    /// their defaults; `benchmarks.only = [...]` selects a subset (see `config::benchmarks`).
    #[serde(default)]
    pub benchmarks: Benchmarks,
    #[serde(default)]
    pub judge: JudgeSection,
    #[serde(default)]
    pub analysis: AnalysisSection,
    #[serde(default)]
    pub stats: StatsSection,
}

fn default_name() -> String {
    "default".into()
}

impl Experiment {
    /// The number of intervention seeds: `seeds`, else the profile's default (1 for an external
    /// intervention, which has no training seed).
    pub fn seed_count(&self) -> usize {
        self.seeds.unwrap_or_else(|| {
            if self.intervention.kind == InterventionKind::External {
                1
            } else {
                self.profile.seeds()
            }
        })
    }

    /// The intervention seeds: `seed`, `seed + 1`, ...
    pub fn seed_list(&self) -> Vec<u64> {
        (0..self.seed_count())
            .map(|k| self.seed.wrapping_add(k as u64))
            .collect()
    }
}

/// The model to evaluate and intervene on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A packaged name, tiny-*, a local path, or hf:ORG/NAME.
    #[serde(default = "default_model")]
    pub id: String,
    /// f32, bf16 or f16.
    #[serde(default = "default_dtype")]
    pub dtype: String,
    /// cpu, cuda or cuda:N.
    #[serde(default = "default_device")]
    pub device: String,
}

fn default_model() -> String {
    "smollm2-135m-instruct".into()
}
fn default_dtype() -> String {
    "f32".into()
}
fn default_device() -> String {
    "cpu".into()
}

impl Default for ModelSection {
    fn default() -> Self {
        ModelSection {
            id: default_model(),
            dtype: default_dtype(),
            device: default_device(),
        }
    }
}

/// How refusal replies are chosen for the training prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyChoice {
    /// One fixed refusal for every prompt (the naive original).
    Fixed,
    /// A reply drawn by seed from a pool of varied refusals.
    Pool,
}

/// The training data of the intervention, and the hygiene between training and evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Pool the harmful training prompts are drawn from (`advbench`, `harmbench`, or `PATH:COLUMN`).
    #[serde(default = "default_pool")]
    pub harmful_pool: String,
    /// Number of harmful training prompts.
    #[serde(default = "default_n_train")]
    pub n_train: usize,
    /// Refusal replies: `pool` (varied) or `fixed` (one reply, the naive original).
    #[serde(default = "default_replies")]
    pub replies: ReplyChoice,
    /// Benign examples per harmful example (self-distilled answers of the base model; 0 = none).
    #[serde(default)]
    pub benign_mix: f64,
    /// Word 5-gram Jaccard similarity at or above which an evaluation item counts as a duplicate
    /// of a training item and is removed.
    #[serde(default = "default_threshold")]
    pub dedup_threshold: f64,
    /// Cosine similarity of all-MiniLM-L6-v2 sentence embeddings at or above which a refusal
    /// evaluation prompt counts as a paraphrase of a prompt of the harmful pool and is removed
    /// (default 0.70: `spillover_data::datasets::DEFAULT_SEMANTIC_THRESHOLD` says why).
    #[serde(default = "default_semantic_threshold")]
    pub semantic_dedup_threshold: f64,
}

fn default_pool() -> String {
    "advbench".into()
}
fn default_n_train() -> usize {
    100
}
fn default_replies() -> ReplyChoice {
    ReplyChoice::Pool
}
fn default_threshold() -> f64 {
    0.5
}
fn default_semantic_threshold() -> f64 {
    spillover_data::datasets::DEFAULT_SEMANTIC_THRESHOLD
}

impl Default for DataSection {
    fn default() -> Self {
        DataSection {
            harmful_pool: default_pool(),
            n_train: default_n_train(),
            replies: default_replies(),
            benign_mix: 0.0,
            dedup_threshold: default_threshold(),
            semantic_dedup_threshold: default_semantic_threshold(),
        }
    }
}

/// The kinds of intervention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionKind {
    /// LoRA supervised fine-tuning on the refusal set.
    LoraSft,
    /// Full fine-tuning of the linear layers on the refusal set.
    FullFt,
    /// θ = (1 − α)·θ_base + α·θ_tuned, with θ_tuned from `from`.
    Interpolate,
    /// Add the refusal direction to the residual stream at one layer.
    Actadd,
    /// Project the refusal direction out of the residual stream at every layer.
    Ablate,
    /// Bake the ablation into the weights.
    Orthogonalize,
    /// A tuned model made elsewhere (`model`): a PEFT adapter or full fine-tuning folder applied
    /// to the base, or a whole model (HF folder, GGUF, hf:ORG/NAME[@REVISION]).
    External,
}

impl InterventionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InterventionKind::LoraSft => "lora_sft",
            InterventionKind::FullFt => "full_ft",
            InterventionKind::Interpolate => "interpolate",
            InterventionKind::Actadd => "actadd",
            InterventionKind::Ablate => "ablate",
            InterventionKind::Orthogonalize => "orthogonalize",
            InterventionKind::External => "external",
        }
    }
    /// Whether this kind trains (and so depends on the intervention seed).
    pub fn trains(self) -> bool {
        matches!(
            self,
            InterventionKind::LoraSft | InterventionKind::FullFt | InterventionKind::Interpolate
        )
    }
    /// Whether this kind uses a refusal direction.
    pub fn uses_direction(self) -> bool {
        matches!(
            self,
            InterventionKind::Actadd | InterventionKind::Ablate | InterventionKind::Orthogonalize
        )
    }
}

/// The intervention. Keys that do not apply to `kind` are errors (they would be silently ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterventionSection {
    #[serde(default = "default_kind")]
    pub kind: InterventionKind,
    /// lora_sft: `r=8,alpha=16,targets=q_proj,k_proj,v_proj,o_proj[,dropout=0.05][,rslora]`.
    pub lora: Option<String>,
    /// full_ft: linear layers to train (`all`, or names/suffixes, comma-separated).
    pub full_targets: Option<String>,
    /// Training epochs (lora_sft, full_ft, interpolate).
    pub epochs: Option<usize>,
    /// Peak learning rate (default 2e-4 for LoRA, 1e-5 for full fine-tuning).
    pub lr: Option<f64>,
    /// Examples per optimizer step.
    pub batch_size: Option<usize>,
    /// interpolate: α in θ = (1 − α)·θ_base + α·θ_tuned.
    pub alpha: Option<f64>,
    /// interpolate: how θ_tuned is trained (`lora_sft` or `full_ft`).
    pub from: Option<InterventionKind>,
    /// actadd / ablate / orthogonalize: layer of the direction (default: chosen from the data).
    pub layer: Option<usize>,
    /// actadd: multiple of the unit direction added (default: the difference-of-means norm).
    pub coeff: Option<f64>,
    /// actadd / ablate / orthogonalize: prompts per class used to compute the direction.
    pub direction_prompts: Option<usize>,
    /// external: the tuned model. A PEFT adapter folder (applied to `model.id`), a full
    /// fine-tuning folder from `spillover train --full`, an HF model folder, a .gguf file, a
    /// packaged or tiny-* name, or hf:ORG/NAME[@REVISION]. It must use the base's tokenizer.
    pub model: Option<String>,
}

fn default_kind() -> InterventionKind {
    InterventionKind::LoraSft
}

impl Default for InterventionSection {
    fn default() -> Self {
        InterventionSection {
            kind: default_kind(),
            lora: None,
            full_targets: None,
            epochs: None,
            lr: None,
            batch_size: None,
            alpha: None,
            from: None,
            layer: None,
            coeff: None,
            direction_prompts: None,
            model: None,
        }
    }
}

/// One benchmark's settings; unset values come from the profile and the benchmark's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchSection {
    /// Number of items (default: the profile's size; 0 = every item).
    pub limit: Option<usize>,
    /// Dataset: a built-in name or `PATH:COLUMN` (default: the benchmark's own).
    pub dataset: Option<String>,
    /// Maximum new tokens per generation.
    pub max_new_tokens: Option<usize>,
    /// Worked examples in the prompt (gsm8k).
    pub few_shot: Option<usize>,
}

/// Which refusal judge labels responses (`keyword` or `learned`); defined with the judges.
pub use spillover_evals::judge::JudgeKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSection {
    /// `learned` (MiniLM + logistic head, validated against human labels) or `keyword`.
    #[serde(default = "default_judge")]
    pub kind: JudgeKind,
}

fn default_judge() -> JudgeKind {
    JudgeKind::default()
}

impl Default for JudgeSection {
    fn default() -> Self {
        JudgeSection {
            kind: default_judge(),
        }
    }
}

/// The mechanistic analysis stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSection {
    /// Run the MRI (attention, attribution, patching, directions) after the comparison.
    #[serde(default = "yes")]
    pub mri: bool,
    /// Probe prompts (default: the arithmetic probe and one harmful prompt).
    #[serde(default)]
    pub probes: Vec<String>,
    /// Harmful and harmless prompts (each) for the refusal direction and causal validation.
    #[serde(default = "default_analysis_prompts")]
    pub prompts: usize,
    /// Arithmetic items (the seed's evaluated ones) checked as capability in validation.
    #[serde(default = "default_analysis_items")]
    pub items: usize,
    /// Random draws of each null: random unit directions against which the cosine between two
    /// seeds' refusal directions is ranked (the agreement over seeds; at least 20).
    #[serde(default = "default_analysis_nulls")]
    pub nulls: usize,
    /// How the MRI's claims knock a direction out: `mean` (its projection set to the base model's
    /// mean over harmless prompts) or `zero`.
    #[serde(default)]
    pub ablation: spillover_mri::claims::Ablation,
    /// Random directions / layer-matched head sets in the null of each MRI claim (0: no claims;
    /// else at least 20).
    #[serde(default = "default_ablation_nulls")]
    pub ablation_nulls: usize,
    /// Harmful prompts (and harmless reference prompts) each MRI claim is measured on.
    #[serde(default = "default_null_prompts")]
    pub null_prompts: usize,
}

/// The fewest null draws `analysis.nulls` accepts.
pub const MIN_NULLS: usize = 20;

fn yes() -> bool {
    true
}

/// Defaults of `[analysis]` sizes (the MRI's cost at the quick profile).
fn default_analysis_prompts() -> usize {
    32
}
fn default_analysis_items() -> usize {
    24
}
fn default_analysis_nulls() -> usize {
    1000
}
fn default_ablation_nulls() -> usize {
    spillover_mri::MriOptions::default().ablation_nulls
}
fn default_null_prompts() -> usize {
    spillover_mri::MriOptions::default().null_prompts
}

impl Default for AnalysisSection {
    fn default() -> Self {
        AnalysisSection {
            mri: true,
            probes: Vec::new(),
            prompts: default_analysis_prompts(),
            items: default_analysis_items(),
            nulls: default_analysis_nulls(),
            ablation: Default::default(),
            ablation_nulls: default_ablation_nulls(),
            null_prompts: default_null_prompts(),
        }
    }
}

/// Statistics of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSection {
    /// Paired bootstrap / permutation resamples (at least 10,000).
    #[serde(default = "default_resamples")]
    pub resamples: usize,
    /// Confidence level of the intervals.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Family-wise error rate for the verdicts (Holm-corrected across the table).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Equivalence margins: a change inside ±margin counts as "equivalent" when its (1 − 2α')
    /// interval lies inside it. Keys are benchmarks: a number applies to all their metrics
    /// (`refusal = 0.05`), a table to single metrics (`arithmetic.gold_logprob = 0.2`). Rates are
    /// fractions (0.05 = 5 points). Defaults: 0.05 for every rate and pass@1; 0.1 nats for
    /// arithmetic's and 0.05 for MMLU's and HumanEval's log-probabilities; 0.02 nats for
    /// nll_per_token, 0.01 for bits_per_byte; 0.05 for distinct_2 and repetition; 8 tokens for
    /// length; 0.01 nats for KL (descriptive, so only shown).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub margins: BTreeMap<String, Margin>,
}

/// One `[stats.margins]` entry: a margin for every metric of a benchmark, or per metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Margin {
    All(f64),
    PerMetric(BTreeMap<String, f64>),
}

fn default_resamples() -> usize {
    10_000
}
fn default_confidence() -> f64 {
    0.95
}
fn default_alpha() -> f64 {
    0.05
}

impl Default for StatsSection {
    fn default() -> Self {
        StatsSection {
            resamples: default_resamples(),
            confidence: default_confidence(),
            alpha: default_alpha(),
            margins: BTreeMap::new(),
        }
    }
}

impl Experiment {
    /// Checks values that serde cannot: ranges, names, and keys that do not apply.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |key: &str, what: String| Err(format!("{key}: {what}"));
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad(
                "name",
                format!(
                    "{:?} must be non-empty and use only letters, digits, '-', '_' or '.'",
                    self.name
                ),
            );
        }
        if self.seeds == Some(0) {
            return bad("seeds", "must be at least 1".into());
        }
        if self.intervention.kind == InterventionKind::External {
            if let Some(n) = self.seeds.filter(|&n| n > 1) {
                return bad(
                    "seeds",
                    format!(
                        "{}: an external intervention has no training seed (the tuned model is \
                         given, not trained), so every seed would measure the same model; use \
                         seeds = 1",
                        n
                    ),
                );
            }
            if self.data.benign_mix > 0.0 {
                return bad(
                    "data.benign_mix",
                    "does not apply to kind = \"external\" (nothing is trained here); set it to 0"
                        .into(),
                );
            }
        }
        if self.data.n_train == 0 {
            return bad("data.n_train", "must be at least 1".into());
        }
        if !(0.0..=10.0).contains(&self.data.benign_mix) {
            return bad(
                "data.benign_mix",
                format!("{} is not in [0, 10]", self.data.benign_mix),
            );
        }
        if !(0.0..=1.0).contains(&self.data.dedup_threshold) || self.data.dedup_threshold == 0.0 {
            return bad(
                "data.dedup_threshold",
                format!("{} is not in (0, 1]", self.data.dedup_threshold),
            );
        }
        let semantic = self.data.semantic_dedup_threshold;
        if !(semantic > 0.0 && semantic <= 1.0) {
            return bad(
                "data.semantic_dedup_threshold",
                format!("{semantic} is not in (0, 1]"),
            );
        }
        if self.stats.resamples < 10_000 {
            return bad(
                "stats.resamples",
                format!("{} is below 10000", self.stats.resamples),
            );
        }
        if !(0.5..1.0).contains(&self.stats.confidence) {
            return bad(
                "stats.confidence",
                format!("{} is not in [0.5, 1)", self.stats.confidence),
            );
        }
        if !(0.0..0.5).contains(&self.stats.alpha) || self.stats.alpha == 0.0 {
            return bad(
                "stats.alpha",
                format!("{} is not in (0, 0.5)", self.stats.alpha),
            );
        }
        if self.analysis.prompts == 0 {
            return bad("analysis.prompts", "must be at least 1".into());
        }
        if self.analysis.nulls < MIN_NULLS {
            return bad(
                "analysis.nulls",
                format!("{} is below {MIN_NULLS}", self.analysis.nulls),
            );
        }
        if self.analysis.ablation_nulls != 0 && self.analysis.ablation_nulls < MIN_NULLS {
            return bad(
                "analysis.ablation_nulls",
                format!(
                    "{} is below {MIN_NULLS} (0 turns the claims off)",
                    self.analysis.ablation_nulls
                ),
            );
        }
        if self.analysis.null_prompts == 0 {
            return bad("analysis.null_prompts", "must be at least 1".into());
        }
        self.validate_margins()?;
        self.intervention.validate()
    }

    fn validate_margins(&self) -> Result<(), String> {
        let positive = |key: String, v: f64| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(format!("{key}: {v} is not a positive number"))
            }
        };
        for (bench, m) in &self.stats.margins {
            let key = format!("stats.margins.{bench}");
            let known = crate::compare::metric_names(bench).ok_or_else(|| {
                format!(
                    "{key}: unknown benchmark; valid: {}",
                    benchmark_names().join(", ")
                )
            })?;
            match m {
                Margin::All(v) => positive(key, *v)?,
                Margin::PerMetric(per) => {
                    for (metric, v) in per {
                        if !known.contains(metric) {
                            return Err(format!(
                                "{key}.{metric}: unknown metric; valid: {}",
                                known.join(", ")
                            ));
                        }
                        positive(format!("{key}.{metric}"), *v)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl InterventionSection {
    /// The keys that are set but do not apply to `kind` (e.g. `lora` for `kind = "actadd"`).
    pub fn inapplicable_keys(&self) -> Vec<&'static str> {
        use InterventionKind::*;
        let k = self.kind;
        let trains = k.trains();
        let lora_like = matches!(k, LoraSft) || (k == Interpolate && self.from != Some(FullFt));
        let full_like = matches!(k, FullFt) || (k == Interpolate && self.from == Some(FullFt));
        let checks: [(&str, bool, bool); 11] = [
            ("lora", self.lora.is_some(), lora_like),
            ("full_targets", self.full_targets.is_some(), full_like),
            ("epochs", self.epochs.is_some(), trains),
            ("lr", self.lr.is_some(), trains),
            ("batch_size", self.batch_size.is_some(), trains),
            ("alpha", self.alpha.is_some(), k == Interpolate),
            ("from", self.from.is_some(), k == Interpolate),
            ("layer", self.layer.is_some(), k.uses_direction()),
            ("coeff", self.coeff.is_some(), k == Actadd),
            (
                "direction_prompts",
                self.direction_prompts.is_some(),
                k.uses_direction(),
            ),
            ("model", self.model.is_some(), k == External),
        ];
        checks
            .iter()
            .filter(|(_, set, applies)| *set && !*applies)
            .map(|(key, _, _)| *key)
            .collect()
    }

    fn validate(&self) -> Result<(), String> {
        use InterventionKind::*;
        if let Some(key) = self.inapplicable_keys().first() {
            return Err(format!(
                "intervention.{key} does not apply to kind = \"{}\"",
                self.kind.as_str()
            ));
        }
        if self.kind == External {
            match self.model.as_deref().map(str::trim) {
                None | Some("") => {
                    return Err(
                        "intervention.model: kind = \"external\" needs the tuned model: \
                         a PEFT adapter folder, an HF model folder, a .gguf file or \
                         hf:ORG/NAME[@REVISION]"
                            .into(),
                    )
                }
                Some(m) => {
                    if let Some(hub) = m.strip_prefix("hf:") {
                        spillover_data::hub::HubModel::parse(hub)
                            .map_err(|e| format!("intervention.model: {e}"))?;
                    }
                }
            }
        }
        if let Some(from) = self.from {
            if !matches!(from, LoraSft | FullFt) {
                return Err(format!(
                    "intervention.from = \"{}\": expected \"lora_sft\" or \"full_ft\"",
                    from.as_str()
                ));
            }
        }
        if let Some(a) = self.alpha {
            if !(0.0..=1.0).contains(&a) {
                return Err(format!(
                    "intervention.alpha = {a}: expected a value in [0, 1]"
                ));
            }
        }
        if let Some(l) = &self.lora {
            spillover_model::lora::LoraConfig::parse(l)
                .map_err(|e| format!("intervention.lora: {e}"))?;
        }
        for (key, v) in [
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("direction_prompts", self.direction_prompts),
        ] {
            if v == Some(0) {
                return Err(format!("intervention.{key}: must be at least 1"));
            }
        }
        if let Some(lr) = self.lr {
            if !(lr > 0.0 && lr.is_finite()) {
                return Err(format!(
                    "intervention.lr = {lr}: expected a positive number"
                ));
            }
        }
        Ok(())
    }
}
