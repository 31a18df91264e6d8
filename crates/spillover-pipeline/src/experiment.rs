//! One experiment, stage by stage:
//!
//! ```text
//! data ─▶ baseline (shared) ─┬─▶ seed-S/intervention ─▶ seed-S/after ─▶ seed-S/compare ─┐
//!                            │   (training or direction stages shared between runs)      ├─▶ tables (CSV, Parquet)
//!                            └────────────────────────────────────────────────────────────┴─▶ across-seeds ─▶ seed-S/explain ─▶ results.json
//! ```
//!
//! The MRI (`seed-S/explain`) runs on every seed's intervened model; with several seeds,
//! [`crate::stages::explain::agreement`] says which of its claims every seed makes.
//!
//! Each seed S draws its own training prompts (the data stage's `seed-S/` split) and is evaluated
//! and compared on the baseline's items minus the near-duplicates of those prompts. With several
//! seeds, `across-seeds` pools the seeds' comparisons into one table (see
//! [`crate::compare::across_seeds`]).
//!
//! Stages live in the run folder `<runs>/<name>-<hash>/`; the baseline evaluation, training runs
//! and refusal directions live in `<runs>/_shared/` under the hash of their own inputs, so every
//! run and sweep point with the same model, items and settings reuses them. Shared stages take no
//! lock: concurrent processes (sweep points as Slurm jobs) publish them by atomic rename, first
//! writer wins (see [`crate::rundir`]).

use crate::compare::TaxRow;
use crate::config::{digest, Experiment, InterventionKind};
use crate::interventions::external::External;
use crate::interventions::{self, direction, training, Recipe};
use crate::judge::make_judge;
use crate::keys::{shared_dir, ModelKey, SharedStage};
use crate::progress::Progress;
use crate::results::{self, Results};
use crate::rundir::{read_json, write_atomic, StageResult, Stages};
use crate::stages::evaluate::EvalSummary;
use crate::stages::{compare, data, evaluate, explain};
use crate::tables;
use anyhow::{Context, Result};
use serde::Serialize;
use spillover_data::datasets::DatasetError;
use spillover_engine::{GenerateOptions, Generator};
use spillover_evals::benchmarks::Subject;
use spillover_model::chat::ChatMessage;
use spillover_model::LoadedModel;
use spillover_sandbox::{Sandbox, SandboxConfig};
use std::path::{Path, PathBuf};

/// How to run (not part of the experiment's identity).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Parent of run folders and of `_shared/`.
    pub runs_dir: PathBuf,
    /// Progress bars and stage lines on stderr.
    pub progress: bool,
}

/// The run folder of an experiment: `<runs>/<name>-<first 10 hex of the config hash>`.
pub fn run_dir(exp: &Experiment, runs: &Path) -> PathBuf {
    runs.join(format!("{}-{}", exp.name, &config_hash(exp)[..10]))
}

/// The hash that names the run.
pub fn config_hash(exp: &Experiment) -> String {
    crate::keys::stage_hash(&(crate::SCHEMA_VERSION, exp))
}

/// Everything a stage needs about the base model.
pub struct Base {
    pub spec: String,
    /// The model's identity in every stage key.
    pub key: ModelKey,
    pub lm: LoadedModel,
}

impl Base {
    pub fn load(exp: &Experiment) -> Result<Base> {
        let lm = load_fresh(exp)?;
        Ok(Base {
            spec: exp.model.id.clone(),
            key: ModelKey::of(exp)?,
            lm,
        })
    }
    pub fn subject(&self, label: &str) -> Result<Subject<'_>> {
        Ok(Subject::from_loaded(&self.lm, label)?)
    }
}

/// A new copy of the base model (for training or for the "after" model).
pub(crate) fn load_fresh(exp: &Experiment) -> Result<LoadedModel> {
    let dtype = crate::models::dtype(&exp.model.dtype)?;
    let device = crate::models::device(&exp.model.device, "model.device")?;
    crate::models::load_model(&exp.model.id, dtype, &device)
}

/// Runs the experiment (or finishes it, reusing every stage already done) and writes
/// `results.json`, `report.md` and `report.html` into the run folder.
pub fn run(exp: &Experiment, opts: &RunOptions) -> Result<Results> {
    let root = run_dir(exp, &opts.runs_dir);
    let mut progress = Progress::new(opts.progress, plan_len(exp));
    progress.note(&format!("run folder {}", root.display()));
    progress.stage("load model");
    let mut base = Base::load(exp)?;
    // An external tuned model is resolved and checked against the base before anything runs
    // (a refused one leaves no run folder).
    let external = match exp.intervention.kind {
        InterventionKind::External => Some(External::prepare(exp, &base)?),
        _ => None,
    };
    let stages = Stages::open(&root)?;
    let resolved = toml::to_string(exp).context("serialising the resolved config")?;
    write_atomic(&root.join("config.resolved.toml"), resolved.as_bytes())?;
    base.lm.model.use_inference_layout()?;
    let judge = make_judge(exp.judge.kind)?;
    let sandbox = if exp
        .benchmarks
        .contains_key(&spillover_evals::benchmarks::BenchmarkKind::Humaneval)
    {
        Some(Sandbox::new(SandboxConfig::default())?)
    } else {
        None
    };

    let line = |m: &str| progress_line(opts, m);
    let tools = evaluate::Tools {
        judge: judge.as_ref(),
        sandbox: sandbox.as_ref(),
        progress: &line,
    };

    // Data: splits, dedup, sizes, refusal set.
    progress.stage("data");
    let data_inputs = (
        &exp.data,
        exp.seed,
        &exp.profile,
        &exp.benchmarks,
        benign_model(exp, &base),
        exp.seed_list(),
    );
    let data_stage = stages.run("data", &data_inputs, |out, _| {
        let mut gen = |p: &[String]| self_distill(&base, p).map_err(DatasetError::generation);
        data::build(exp, out, &mut gen)
    })?;
    // Loud, even with --quiet and when the stage is reused: the run is not all that was asked.
    for split in &data_stage.summary.splits {
        for w in &split.refusal_set.warnings {
            eprintln!("warning: seed {}: {w}", split.seed);
        }
    }
    let items_hash = crate::rundir::tree_digest(&data_stage.dir.join("items"))?;

    // Baseline evaluation, shared by every run on the same model and items.
    progress.stage("baseline evaluation");
    let base_inputs = (
        &base.key,
        &items_hash,
        &exp.benchmarks,
        exp.judge.kind,
        exp.seed,
    );
    let shared = opts.runs_dir.join("_shared");
    let baseline_root = shared_dir(&shared, SharedStage::Baseline, &base_inputs);
    let baseline = {
        let s = Stages::shared(&baseline_root)?;
        let subject = base.subject("base")?;
        s.run("eval", &base_inputs, |out, _| {
            evaluate::evaluate(exp, &data_stage.dir, &subject, None, &tools, out)
        })?
    };

    // Intervention, after-evaluation and comparison, per seed.
    let mut per_seed = Vec::new();
    for split in &data_stage.summary.splits {
        let seed = split.seed;
        let split_dir = data::split_dir(&data_stage.dir, seed);
        let tag = format!("seed-{seed}");
        progress.stage(&format!(
            "{tag}: intervention ({})",
            exp.intervention.kind.as_str()
        ));
        let recipe = intervene(
            exp,
            &base,
            external.as_ref(),
            &data_stage,
            split,
            &stages,
            &shared,
            &tag,
            opts,
        )?;
        progress.stage(&format!("{tag}: evaluation after"));
        let split_items = crate::rundir::tree_digest(&split_dir.join("items"))?;
        let after_inputs = (&base_inputs, &recipe.inputs_hash, &split_items);
        let after = stages.run(&format!("{tag}/after"), &after_inputs, |out, _| {
            let tuned = interventions::load_after(exp, &recipe.summary)?;
            let mut tuned_lm = tuned.lm;
            tuned_lm.model.use_inference_layout()?;
            // The base's tokenizer and chat template: the same items are the same tokens after
            // (an external model's own tokenizer was checked to be the base's).
            let mut subject = Subject::new(
                &tuned_lm.model,
                base.lm.tokenizer()?,
                base.lm.chat.as_ref(),
                "after",
            );
            if let Some(h) = tuned.hooks.as_deref() {
                subject = subject.with_hooks(h);
            }
            let base_subject = base.subject("base")?;
            evaluate::evaluate(exp, &split_dir, &subject, Some(&base_subject), &tools, out)
        })?;
        progress.stage(&format!("{tag}: comparison"));
        let cmp_inputs = (&base_inputs, &after_inputs, &exp.stats);
        let table = stages.run(&format!("{tag}/compare"), &cmp_inputs, |out, _| {
            compare::compare(exp, &baseline.dir, &after.dir, &split_dir, seed, out)
        })?;
        let cmp_inputs = crate::keys::stage_hash(&cmp_inputs);
        per_seed.push(SeedRun {
            seed,
            recipe,
            after,
            table,
            split_dir,
            cmp_inputs,
        });
    }

    // Per-item and metrics tables (CSV and Parquet) of every seed.
    progress.stage("tables");
    let seed_tables: Vec<tables::SeedTables> = per_seed
        .iter()
        .map(|s| tables::SeedTables {
            seed: s.seed,
            compare: &s.table,
            after_dir: &s.after.dir,
            split_dir: &s.split_dir,
        })
        .collect();
    let tables_stage = tables::stage(exp, &stages, &baseline.dir, &seed_tables)?;

    // The change over seeds, with a seed × item interval and a test stratified by seed.
    let across = if per_seed.len() > 1 {
        progress.stage("across seeds");
        let inputs: Vec<&str> = per_seed.iter().map(|s| s.cmp_inputs.as_str()).collect();
        Some(
            stages.run("across-seeds", &(&inputs, &exp.stats), |out, _| {
                let seeds: Vec<compare::SeedDirs> = per_seed
                    .iter()
                    .map(|s| compare::SeedDirs {
                        seed: s.seed,
                        after: &s.after.dir,
                        split: &s.split_dir,
                        table: &s.table.summary,
                    })
                    .collect();
                compare::across(exp, &baseline.dir, &seeds, out)
            })?,
        )
    } else {
        None
    };

    // Mechanistic analysis of every seed's intervention, and which claims the seeds share.
    let mut mri = Vec::new();
    if exp.analysis.mri {
        for (s, split) in per_seed.iter().zip(&data_stage.summary.splits) {
            let tag = format!("seed-{}", s.seed);
            progress.stage(&format!("{tag}: explain (MRI)"));
            let split_items = crate::rundir::tree_digest(&s.split_dir.join("items"))?;
            let inputs = (
                &base.key,
                &s.recipe.inputs_hash,
                &items_hash,
                &split_items,
                &exp.analysis,
                exp.judge.kind,
            );
            let stage = stages.run(&format!("{tag}/explain"), &inputs, |out, _| {
                explain::explain(
                    exp,
                    &base,
                    &s.recipe.summary,
                    &data_stage.dir,
                    &s.split_dir,
                    &split.refusal_set.benign_ids,
                    judge.as_ref(),
                    out,
                    &tag,
                    opts.progress,
                )
            })?;
            mri.push((s.seed, stage));
        }
    }
    let mri_agreement = if mri.len() > 1 {
        let parsed = mri
            .iter()
            .map(|(seed, st)| Ok((*seed, serde_json::from_value(st.summary.clone())?)))
            .collect::<Result<Vec<_>>>()?;
        Some(explain::agreement::agreement(
            &parsed,
            exp.stats.alpha,
            exp.analysis.nulls,
            exp.seed,
        )?)
    } else {
        None
    };

    progress.stage("results");
    let mut results = results::assemble(
        exp,
        &root,
        &data_stage,
        &baseline,
        &per_seed,
        across.as_ref(),
        &mri,
        mri_agreement,
        &stages,
    )?;
    results.timings.push(results::timing(
        tables::DIR,
        tables_stage.seconds,
        tables_stage.reused,
    ));
    results::write(&root, &results)?;
    progress.done(&root);
    Ok(results)
}

/// Number of stage lines the progress display will print.
fn plan_len(exp: &Experiment) -> usize {
    let seeds = exp.seed_count();
    4 + 3 * seeds + 1 + usize::from(seeds > 1) + usize::from(exp.analysis.mri) * seeds + 1
}

fn progress_line(opts: &RunOptions, msg: &str) {
    if opts.progress {
        eprintln!("    {msg}");
    }
}

/// The model's key when the data stage uses the model (benign self-distillation).
fn benign_model<'a>(exp: &Experiment, base: &'a Base) -> Option<&'a ModelKey> {
    (exp.data.benign_mix > 0.0).then_some(&base.key)
}

/// The base model's greedy answers to benign prompts (for the benign mix).
fn self_distill(base: &Base, prompts: &[String]) -> Result<Vec<String>> {
    let subject = base.subject("base")?;
    let mut ids = Vec::with_capacity(prompts.len());
    for p in prompts {
        let text = subject.dialogue(&[ChatMessage::user(p.clone())])?;
        ids.push(subject.encode(&text, subject.chat_style())?);
    }
    let opts = GenerateOptions {
        max_new_tokens: 128,
        stop_ids: subject.stop_ids(),
        pad_id: subject.pad_id(),
    };
    // A prompt that leaves no room in the model's context gets no answer (an empty one, which
    // the refusal set drops and counts, like a blank answer).
    let context = base.lm.model.config().max_positions;
    let fits: Vec<usize> = (0..ids.len()).filter(|&i| ids[i].len() < context).collect();
    if fits.len() < ids.len() {
        eprintln!(
            "warning: {} of {} benign prompts leave no room in the model's context of {context} \
             tokens; they get no self-generated answer",
            ids.len() - fits.len(),
            ids.len()
        );
    }
    let asked: Vec<Vec<u32>> = fits.iter().map(|&i| ids[i].clone()).collect();
    let gens = Generator::new(&base.lm.model, &opts).run(&asked, None)?;
    let mut answers = vec![String::new(); ids.len()];
    for (&i, g) in fits.iter().zip(&gens) {
        answers[i] = subject.decode(&g.new_ids)?;
    }
    Ok(answers)
}

/// One seed's intervention, evaluation after it, and comparison.
pub(crate) struct SeedRun {
    pub seed: u64,
    pub recipe: RecipeStage,
    pub after: StageResult<EvalSummary>,
    pub table: StageResult<Vec<TaxRow>>,
    /// The seed's split of the data stage (its items and training set).
    pub split_dir: PathBuf,
    /// The hash of the comparison's inputs (everything the seed's table depends on).
    pub cmp_inputs: String,
}

/// The intervention stage's result with the hash that identifies it downstream.
pub(crate) struct RecipeStage {
    pub summary: Recipe,
    pub inputs_hash: String,
    pub seconds: f64,
    pub reused: bool,
    /// The shared stage that did the work ("train" or "direction"; empty for an external
    /// intervention, which computes nothing), its time and reuse.
    pub work_stage: String,
    pub work_seconds: f64,
    pub work_reused: bool,
    /// The training or direction stage this recipe was built from.
    pub detail: serde_json::Value,
}

#[allow(clippy::too_many_arguments)]
fn intervene(
    exp: &Experiment,
    base: &Base,
    external: Option<&External>,
    data_stage: &StageResult<data::DataSummary>,
    split: &data::SeedSplit,
    stages: &Stages,
    shared: &Path,
    tag: &str,
    opts: &RunOptions,
) -> Result<RecipeStage> {
    let section = &exp.intervention;
    let seed = split.seed;
    // The seed's own draw of training prompts: its hash is part of the training and direction
    // keys.
    let train_file =
        data::split_dir(&data_stage.dir, seed).join(spillover_data::datasets::REFUSAL_TRAIN_FILE);
    let data_hash = spillover_data::sha256_file(&train_file)?.0;
    if let Some(ext) = external {
        // Nothing to compute: the recipe is the tuned model, keyed by its content.
        let recipe = interventions::external_recipe(ext);
        let r_inputs = (&base.key, section.kind, &ext.content);
        return record_recipe(
            stages,
            tag,
            &r_inputs,
            recipe,
            ext.detail.clone(),
            ("", 0.0, false),
        );
    }
    if section.kind.trains() {
        let settings = training::TrainSettings::resolve(section, seed);
        let t_inputs = (&base.key, &data_hash, &settings);
        let t_root = shared_dir(shared, SharedStage::Train, &t_inputs);
        let t = Stages::shared(&t_root)?;
        let trained = t.run("weights", &t_inputs, |out, work| {
            let mut lm = load_fresh(exp)?;
            training::train_intervention(
                &mut lm,
                &base.spec,
                &train_file,
                &settings,
                out,
                work,
                opts.progress,
            )
        })?;
        let weights = trained.dir.clone();
        let method = settings.method;
        let (recipe, alpha) = if section.kind == InterventionKind::Interpolate {
            let alpha = section.alpha.unwrap_or(0.5);
            let r = Recipe::Interpolate {
                method,
                weights,
                alpha,
            };
            (r, Some(alpha))
        } else {
            (Recipe::Trained { method, weights }, None)
        };
        let r_inputs = (&t_inputs, alpha, section.kind);
        let detail = serde_json::to_value(&trained.summary)?;
        let work = ("train", trained.seconds, trained.reused);
        return record_recipe(stages, tag, &r_inputs, recipe, detail, work);
    }
    // Direction kinds: shared direction stage (the seed enters through its draw of prompts).
    let benign = &split.refusal_set.benign_ids;
    let harmful = tokenized_prompts(base, &train_file, "prompt", benign)?;
    let harmless = tokenized_prompts(base, &data_stage.dir.join("harmless.jsonl"), "text", &[])?;
    let n = section.direction_prompts.unwrap_or(64);
    let (harmful, harmless) = (
        &harmful[..n.min(harmful.len())],
        &harmless[..n.min(harmless.len())],
    );
    let d_inputs = (&base.key, &data_hash, digest(&harmless), n, section.layer);
    let d_root = shared_dir(shared, SharedStage::Direction, &d_inputs);
    let d = Stages::shared(&d_root)?;
    let dir = d.run("direction", &d_inputs, |_, _| {
        direction::refusal_direction(
            &base.lm.model,
            harmful,
            harmless,
            section.layer,
            base.lm.pad_id(),
        )
    })?;
    let recipe = interventions::direction_recipe(section, &dir.summary);
    let coeff = match &recipe {
        Recipe::Direction { coeff, .. } => *coeff,
        _ => None,
    };
    let r_inputs = (&d_inputs, section.kind, coeff);
    let detail = serde_json::to_value(&dir.summary)?;
    let work = ("direction", dir.seconds, dir.reused);
    record_recipe(stages, tag, &r_inputs, recipe, detail, work)
}

fn record_recipe(
    stages: &Stages,
    tag: &str,
    inputs: &impl Serialize,
    recipe: Recipe,
    detail: serde_json::Value,
    work: (&str, f64, bool),
) -> Result<RecipeStage> {
    let r = stages.run(&format!("{tag}/intervention"), inputs, |out, _| {
        crate::rundir::write_json(&out.join("detail.json"), &detail)?;
        Ok(recipe)
    })?;
    Ok(RecipeStage {
        summary: r.summary,
        inputs_hash: crate::keys::stage_hash(inputs),
        detail: read_json(&r.dir.join("detail.json"))?,
        seconds: r.seconds,
        reused: r.reused,
        work_stage: work.0.into(),
        work_seconds: work.1,
        work_reused: work.2,
    })
}

/// Chat-templated token ids of the `field` of every row of a JSONL file, except rows whose `id`
/// is in `skip` (the benign examples of a mixed refusal set).
fn tokenized_prompts(
    base: &Base,
    path: &Path,
    field: &str,
    skip: &[String],
) -> Result<Vec<Vec<u32>>> {
    let subject = base.subject("base")?;
    let rows: Vec<serde_json::Value> = crate::rundir::read_jsonl(path)?;
    let mut out = Vec::new();
    for r in rows {
        let Some(text) = r.get(field).and_then(|v| v.as_str()) else {
            anyhow::bail!("{}: a row without `{field}`", path.display());
        };
        let id = r.get("id").and_then(|v| v.as_str()).unwrap_or_default();
        if skip.iter().any(|s| s == id) {
            continue;
        }
        let prompt = subject.dialogue(&[ChatMessage::user(text.to_string())])?;
        out.push(subject.encode(&prompt, subject.chat_style())?);
    }
    Ok(out)
}
