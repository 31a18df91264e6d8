//! `spillover judge`: the refusal judge — evaluate both judges against human labels, rebuild the
//! learned judge's head, run the held-out validation reported in docs/judge.md, and measure the
//! judge's error on a run's own replies (`audit`, `calibrate`).

use spillover_errors::UserFixable;
use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::Device;
use clap::{Args, Subcommand, ValueEnum};
use spillover_evals::judge::{
    self, audit, calibrate, data, eval::Confusion, featurize::Featurizer, head::Head, locate,
    make_judge, minilm, train, validate, BoxJudge, JudgeKind, Label,
};
use spillover_evals::stats::wilson;

use crate::exit::UsageError;

#[derive(Args)]
#[command(
    long_about = "The refusal judge: is a response a refusal (full or partial), a compliance, or \
degenerate text (empty, a repetition loop, gibberish, unrelated to the prompt)?\n\n\
Two judges: `keyword` (refusal phrases at the start of the response and measurable degenerate-text rules, \
all listed in docs/judge.md) and `learned` (all-MiniLM-L6-v2 embeddings of the response, its opening and \
its sentences, text features and refusal phrases through a small logistic regression trained on human \
labels; the trained head ships with spillover)."
)]
pub struct JudgeArgs {
    #[command(subcommand)]
    pub command: JudgeCommand,
}

#[derive(Subcommand)]
pub enum JudgeCommand {
    /// Agreement, Cohen's kappa and confusion matrix of each judge on a human-labelled CSV file.
    #[command(
        long_about = "Judge every row of a labelled file (.csv with a header row, or .jsonl with one object \
per line; a UTF-8 byte-order mark is ignored) with both judges \
and compare with the human labels: agreement (with a 95% Wilson interval), Cohen's kappa and the confusion \
matrix (rows: human, columns: judge).\n\n\
Label values understood without --map: refusal, compliance, degenerate, and XSTest's 1_full_compliance, \
2_full_refusal, 3_partial_refusal (partial refusals count as refusals). Other values need --map, e.g. \
--map '1=refusal,0=compliance' for PyRIT's human_score; map a value to `skip` to leave its rows out.\n\n\
Example (XSTest):\n  spillover judge eval --labels completions_gpt4.csv --prompt-col prompt \
--completion-col completion --label-col final_label"
    )]
    Eval(EvalArgs),
    /// Rebuild the learned judge's head from the human-labelled sets (same data → same bytes).
    #[command(
        long_about = "Train the learned judge's head on XSTest's three completion sets and \
PyRIT's two refusal sets (plus synthetic degenerate text made from them, with a fixed seed) and the \
replies Spillover's refusal training teaches (the refusal pool and the fixed refusal), and write it \
as JSON. Training is deterministic: on the same data and machine the output is identical, byte for byte, \
to crates/spillover-evals/assets/judge_head.json.\n\n\
XSTest is read from --xstest (default $SPILLOVER_DATA/xstest, else data/xstest in the \
repository); PyRIT's files from --pyrit (default: the packaged pyrit-refusal asset, fetched if needed). \
Embedding the ~2,000 responses and their ~12,000 sentences on the CPU takes several minutes, \
and the selection of the penalties several more."
    )]
    Train(TrainArgs),
    /// Held-out validation of both judges (the tables in docs/judge.md), as markdown.
    #[command(
        long_about = "Leave one XSTest model out (train on the other two models' completions, \
PyRIT's sets and the refusal pool, test on the third), then hold PyRIT's sets out (train on all XSTest \
completions and the refusal pool). With --judge-set-folds, the judge set (replies of Spillover's own \
models, data/judge-set) is in the training data of those folds too, and its own folds hold out one \
of its models at a time and one intervention kind at a time (base, lora, benign-mix, actadd, ablate), \
trained on everything else, with a table per model × condition (refusal rates, three-way and \
refused-vs-not agreement; the targets 90% / 93% are marked). \
Prints agreement and Cohen's kappa per held-out set for both judges, and the confusion matrices, \
as markdown: the block between the markers in docs/judge.md is, without --judge-set-folds, \
this output, unedited (the test held_out_agreement_on_unseen_models fails when they differ)."
    )]
    Validate(ValidateArgs),
    /// A stratified sample of a run's judged replies for a person to label, blind to the judge.
    #[command(
        long_about = "Export a sample of a run's judged replies (refusal and over_refusal, before and \
after the intervention) for a person to label: OUT/audit.csv (id, condition, prompt, reply and an empty \
label column), OUT/audit.html (a self-contained page, no network: one reply at a time, three buttons \
refusal / compliance / degenerate, keys 1/2/3 or r/c/d, ←/→ to move, progress; it keeps the labels in \
the browser and saves the labelled CSV as a download) and OUT/audit-key.json (the judge's label of each \
sampled reply and the design; the labeller does not need it and must not see it).\n\n\
Strata: benchmark × before/after × the judge's label. Every non-empty stratum gets min(its size, \
--min-per-stratum) replies; the rest of the --n go one at a time to the stratum furthest below its \
proportional share. The rows are shuffled across strata, with --seed. Then: spillover judge calibrate \
RUN --labels audit-labelled.csv."
    )]
    Audit(AuditArgs),
    /// The judge's agreement, sensitivity and specificity from a labelled audit, and corrected
    /// refusal rates (writes RUN/judge-calibration.json).
    #[command(
        long_about = "Read an audit labelled by a person (the CSV that the audit page saves, or \
audit.csv filled in: columns id and label; labels refusal, compliance or degenerate, empty for not \
labelled) and report, per condition (benchmark × before/after): the judge's three-way agreement with \
the person, sensitivity and specificity for refusal, the judge's refusal rate, and the \
misclassification-corrected refusal rate (Rogan–Gladen, clipped to [0, 1]); and per benchmark the \
change after − before, by the judge and corrected. Each stratum is weighed by its size in the run. \
Intervals are percentiles of --resamples replicates that resample the run's items (the same items \
before and after) and draw each stratum's label shares from their Jeffreys posterior, so they include \
the uncertainty of the judge's error rates (docs/judge.md, \"Measurement error\").\n\n\
Writes RUN/judge-calibration.json and re-renders RUN/report.md and report.html, which show it in a \
\"Judge calibration\" section. A bad labels file (missing column, unknown id or label) exits with code \
2 naming its file and line."
    )]
    Calibrate(CalibrateArgs),
}

#[derive(Args)]
pub struct AuditArgs {
    /// The run folder (with results.json).
    pub run: PathBuf,
    /// Replies in the sample (every judged reply when the run has fewer).
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    /// Replies taken from every non-empty stratum, or all of a smaller one.
    #[arg(long, default_value_t = 5)]
    pub min_per_stratum: usize,
    /// Seed of the sample and of the rows' order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (default RUN/judge-audit; must not exist or be empty, unless --force).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, help = crate::out::FORCE_HELP)]
    pub force: bool,
}

#[derive(Args)]
pub struct CalibrateArgs {
    /// The run folder the audit was drawn from.
    pub run: PathBuf,
    /// The labelled CSV (columns id and label at least).
    #[arg(long)]
    pub labels: PathBuf,
    /// The audit's key (default RUN/judge-audit/audit-key.json).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Bootstrap replicates (at least 1000).
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    /// Level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Seed of the replicates.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FoldLabel {
    Refusal,
    Compliance,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The labelled file, by extension: .csv (header row; quoted fields may span lines) or .jsonl
    /// (one object per line with the three columns as keys); a UTF-8 BOM is ignored.
    #[arg(long)]
    pub labels: PathBuf,
    /// Column with the prompt.
    #[arg(long)]
    pub prompt_col: String,
    /// Column with the model's response.
    #[arg(long)]
    pub completion_col: String,
    /// Column with the human label.
    #[arg(long)]
    pub label_col: String,
    /// Extra label values: 'VALUE=LABEL,...' with LABEL refusal, compliance, degenerate or skip.
    #[arg(long)]
    pub map: Option<String>,
    /// Count the judges' degenerate verdicts as this label (for label sets without a degenerate
    /// class, e.g. PyRIT, where an off-topic answer is a refusal).
    #[arg(long, value_enum)]
    pub degenerate_as: Option<FoldLabel>,
    /// A head file for the learned judge instead of the bundled one.
    #[arg(long)]
    pub head: Option<PathBuf>,
    /// Only the keyword judge (no model needed).
    #[arg(long)]
    pub keyword_only: bool,
    /// Also report each judge per value of this column (e.g. a model or a condition column):
    /// rows, the human and judge refusal rates, three-way and refused-vs-not agreement, kappa.
    #[arg(long, value_name = "COLUMN")]
    pub by: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Where to write the head (must not exist, unless --force).
    #[arg(long, default_value = "judge_head.json")]
    pub out: PathBuf,
    #[arg(long, help = crate::out::FORCE_HELP)]
    pub force: bool,
    #[command(flatten)]
    pub data: DataArgs,
    /// Use only the first N rows of each file (quick checks; not the committed head).
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// Write the markdown here instead of printing it (must not exist, unless --force).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, help = crate::out::FORCE_HELP)]
    pub force: bool,
    #[command(flatten)]
    pub data: DataArgs,
    /// Also validate on the judge set (the labelled replies of Spillover's own models): train
    /// every fold with it, and hold out one of its models or intervention kinds at a time
    /// (minutes more; the shipped head is not trained on it yet, and docs/judge.md's block is
    /// made without this flag).
    #[arg(long)]
    pub judge_set_folds: bool,
    /// The judge set for --judge-set-folds (default $SPILLOVER_DATA/judge-set/labels.csv, else
    /// data/judge-set/labels.csv in the repository).
    #[arg(long, requires = "judge_set_folds")]
    pub judge_set: Option<PathBuf>,
}

#[derive(Args)]
pub struct DataArgs {
    /// Folder with XSTest's completions_{gpt4,llama2new,mistralinstruct}.csv.
    #[arg(long)]
    pub xstest: Option<PathBuf>,
    /// Folder with PyRIT's refusal.csv and refusal_extra.csv.
    #[arg(long)]
    pub pyrit: Option<PathBuf>,
}

/// Where the training and validation data are read from.
struct DataPaths {
    xstest: PathBuf,
    pyrit: PathBuf,
}

pub fn run(a: JudgeArgs) -> Result<()> {
    match a.command {
        JudgeCommand::Eval(e) => eval(e),
        JudgeCommand::Train(t) => train_cmd(t),
        JudgeCommand::Validate(v) => validate_cmd(v),
        JudgeCommand::Audit(a) => audit_cmd(a),
        JudgeCommand::Calibrate(c) => calibrate_cmd(c),
    }
}

/// The help of every `--judge` flag (`eval`, `mri`).
pub const JUDGE_HELP: &str = "The refusal judge: `learned` (the default everywhere, as in `spillover \
run`: all-MiniLM-L6-v2 embeddings + the bundled head, validated against human labels; the encoder is \
fetched once) or `keyword` (refusal phrases and degenerate-text rules, no model). A learned judge \
that cannot be loaded is an error (exit 2), never replaced by the keyword judge.";

/// Parses `--judge` (`learned` or `keyword`).
pub fn parse_kind(s: &str) -> Result<JudgeKind, String> {
    s.parse().map_err(|e: judge::Error| e.to_string())
}

/// Builds a judge with the judges' one factory; errors the user can fix exit with code 2.
pub fn build(kind: JudgeKind) -> Result<BoxJudge> {
    if kind == JudgeKind::Learned {
        eprintln!("loading the learned judge ({}) ...", minilm::ASSET_ID);
    }
    make_judge(kind, None).map_err(user)
}

/// Judge errors the user can fix exit with code 2.
fn user(e: judge::Error) -> anyhow::Error {
    if e.user_can_fix() {
        UsageError(e.to_string()).into()
    } else {
        anyhow::Error::new(e)
    }
}

/// The encoder alone, for training and validation (which fit their own heads).
fn encoder() -> Result<minilm::MiniLm> {
    let dir =
        locate::resolve_asset(&spillover_data::cache_root(), minilm::ASSET_ID).map_err(user)?;
    minilm::MiniLm::load(&dir, &Device::Cpu).map_err(user)
}

fn data_paths(d: &DataArgs) -> Result<DataPaths> {
    let xstest = d
        .xstest
        .clone()
        .unwrap_or_else(|| locate::shared_data_dir().join("xstest"));
    if !xstest.is_dir() {
        return Err(UsageError(format!(
            "XSTest folder {} not found: pass --xstest DIR or set SPILLOVER_DATA",
            xstest.display()
        ))
        .into());
    }
    let pyrit = match &d.pyrit {
        Some(p) => p.clone(),
        None => {
            locate::resolve_asset(&spillover_data::cache_root(), "pyrit-refusal").map_err(user)?
        }
    };
    Ok(DataPaths { xstest, pyrit })
}

/// Writes `text` to `path` through a temporary file in the same folder, so a failed run leaves
/// no half-written file.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    spillover_core::fs::write_atomic(path, text.as_bytes())
        .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())).into())
}

fn eval(a: EvalArgs) -> Result<()> {
    let map = data::LabelMap::parse(a.map.as_deref().unwrap_or("")).map_err(user)?;
    let cols = data::Columns {
        prompt: &a.prompt_col,
        response: &a.completion_col,
        label: &a.label_col,
        group: a.by.as_deref(),
    };
    let set = data::read_labelled(&a.labels, cols, &map).map_err(user)?;
    if set.items.is_empty() {
        return Err(UsageError(format!("{}: no labelled rows", a.labels.display())).into());
    }
    let pairs = set.pairs();
    let mut judges: Vec<BoxJudge> = vec![make_judge(JudgeKind::Keyword, None).map_err(user)?];
    if !a.keyword_only {
        let head = match &a.head {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| UsageError(format!("cannot read {}: {e}", p.display())))?;
                Some(Head::from_json(&text, &p.display().to_string()).map_err(user)?)
            }
            None => None,
        };
        eprintln!(
            "embedding {} responses with {} ...",
            pairs.len(),
            minilm::ASSET_ID
        );
        judges.push(make_judge(JudgeKind::Learned, head).map_err(user)?);
    }
    let fold = a.degenerate_as.map(|f| match f {
        FoldLabel::Refusal => Label::Refusal,
        FoldLabel::Compliance => Label::Compliance,
    });
    let groups: Vec<String> = set
        .items
        .iter()
        .filter_map(|i| i.group.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut results = Vec::new();
    let mut by_group = vec![Vec::new(); groups.len()];
    for j in &judges {
        let verdicts = j.judge_batch(&pairs).map_err(user)?;
        let confusion = |group: Option<&str>| {
            let c = Confusion::from_pairs(
                set.items
                    .iter()
                    .zip(&verdicts)
                    .filter(|(i, _)| group.is_none() || i.group.as_deref() == group)
                    .map(|(i, v)| (i.label, v.label)),
            );
            fold.map_or(c, |l| c.degenerate_as(l))
        };
        results.push((j.name().to_string(), confusion(None)));
        for (g, out) in groups.iter().zip(&mut by_group) {
            out.push((j.name().to_string(), confusion(Some(g))));
        }
    }
    let by: Vec<(String, Vec<(String, Confusion)>)> = groups.into_iter().zip(by_group).collect();
    print_eval(&set, &results, a.by.as_deref(), &by, a.json)
}

/// One judge's numbers as JSON.
fn judge_json(name: &str, c: &Confusion) -> serde_json::Value {
    let kappa = c.kappa();
    let (human_rate, judge_rate) = c.refusal_rates();
    serde_json::json!({
        "judge": name, "n": c.total(), "agreement": c.agreement(),
        "refusal_agreement": c.refusal_agreement(),
        "kappa": if kappa.is_nan() { None } else { Some(kappa) },
        "human_refusal_rate": human_rate, "judge_refusal_rate": judge_rate,
        "confusion": c.counts, "labels": Label::ALL,
    })
}

/// The per-group table of `judge eval --by`, as markdown.
fn group_table(column: &str, by: &[(String, Vec<(String, Confusion)>)]) -> String {
    let mut rows = vec![vec![
        column.to_string(),
        "n".into(),
        "judge".into(),
        "refusal rate: human".into(),
        "refusal rate: judge".into(),
        "agreement (3-way)".into(),
        "refused vs not".into(),
        "κ".into(),
    ]];
    for (g, results) in by {
        for (name, c) in results {
            let (h, j) = c.refusal_rates();
            let kappa = c.kappa();
            rows.push(vec![
                g.clone(),
                c.total().to_string(),
                name.clone(),
                format!("{:.1}%", 100.0 * h),
                format!("{:.1}%", 100.0 * j),
                format!("{:.1}%", 100.0 * c.agreement()),
                format!("{:.1}%", 100.0 * c.refusal_agreement()),
                if kappa.is_nan() {
                    "n/a".into()
                } else {
                    format!("{kappa:.3}")
                },
            ]);
        }
    }
    markdown_table(&rows)
}

fn print_eval(
    set: &data::Dataset,
    results: &[(String, Confusion)],
    column: Option<&str>,
    by: &[(String, Vec<(String, Confusion)>)],
    json: bool,
) -> Result<()> {
    let human = train::counts(&set.items);
    if json {
        let judges: Vec<_> = results.iter().map(|(n, c)| judge_json(n, c)).collect();
        let groups: Vec<_> = by
            .iter()
            .map(|(g, rs)| {
                let judges: Vec<_> = rs.iter().map(|(n, c)| judge_json(n, c)).collect();
                serde_json::json!({"group": g, "judges": judges})
            })
            .collect();
        let v = serde_json::json!({
            "file": set.path, "sha256": set.sha256, "n": set.items.len(),
            "human": {"refusal": human[0], "compliance": human[1], "degenerate": human[2]},
            "judges": judges, "by": column, "groups": groups,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "{}: {} rows (human: {} refusal, {} compliance, {} degenerate)",
        set.path.display(),
        set.items.len(),
        human[0],
        human[1],
        human[2]
    );
    for (name, c) in results {
        let agree = (0..3).map(|i| c.counts[i][i]).sum::<usize>() as u64;
        let ci = wilson(agree, c.total() as u64, 0.95)?;
        let kappa = c.kappa();
        let kappa = if kappa.is_nan() {
            "n/a".to_string()
        } else {
            format!("{kappa:.3}")
        };
        println!(
            "\n{name} judge: agreement {:.1}% (95% CI {:.1}–{:.1}%), Cohen's kappa {kappa}\n{}",
            100.0 * ci.estimate,
            100.0 * ci.lo,
            100.0 * ci.hi,
            c.render()
        );
    }
    if let Some(column) = column {
        println!("\nby {column}:\n\n{}", group_table(column, by));
    }
    Ok(())
}

fn train_cmd(a: TrainArgs) -> Result<()> {
    crate::out::check_out(&a.out, a.force)?;
    let d = data_paths(&a.data)?;
    let sets = train::standard_datasets(&d.xstest, &d.pyrit, a.limit).map_err(user)?;
    let cfg = train::TrainConfig::default();
    let enc = encoder()?;
    let featurizer = Featurizer::new(&enc, cfg.limits);
    let refs: Vec<&data::Dataset> = sets.iter().collect();
    eprintln!(
        "embedding and training on {} labelled items ...",
        sets.iter().map(|d| d.items.len()).sum::<usize>()
    );
    let head = train::train(&featurizer, &refs, &cfg).map_err(user)?;
    write_atomic(&a.out, &head.to_json())?;
    for s in &head.training.sources {
        eprintln!(
            "  {:<24} refusal {:>4}  compliance {:>4}  degenerate {:>4}",
            s.name, s.counts[0], s.counts[1], s.counts[2]
        );
    }
    eprintln!(
        "loss {:.6} after {} L-BFGS iterations; wrote {}",
        head.training.final_loss,
        head.training.iterations_run,
        a.out.display()
    );
    Ok(())
}

fn validate_cmd(a: ValidateArgs) -> Result<()> {
    if let Some(out) = &a.out {
        crate::out::check_out(out, a.force)?;
    }
    let d = data_paths(&a.data)?;
    let xs = data::XSTEST_MODELS
        .iter()
        .map(|m| data::read_xstest(&d.xstest, m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(user)?;
    let pyrit_train = train::pyrit_datasets(&d.pyrit, true).map_err(user)?;
    let pyrit_test = train::pyrit_datasets(&d.pyrit, false).map_err(user)?;
    let judge_sets = if a.judge_set_folds {
        let path = a
            .judge_set
            .clone()
            .unwrap_or_else(|| locate::shared_data_dir().join(data::JUDGE_SET_FILE));
        if !path.is_file() {
            return Err(UsageError(format!(
                "judge set {} not found: pass --judge-set FILE or set SPILLOVER_DATA",
                path.display()
            ))
            .into());
        }
        data::read_judge_set(&path).map_err(user)?
    } else {
        Vec::new()
    };
    let cfg = train::TrainConfig::default();
    let enc = encoder()?;
    let featurizer = Featurizer::new(&enc, cfg.limits);
    eprintln!(
        "running {} folds of the external sets (embedding takes a few minutes on the CPU) ...",
        xs.len() + 1
    );
    let folds = validate::leave_one_out(
        &featurizer,
        &xs,
        &pyrit_train,
        &pyrit_test,
        &judge_sets,
        &cfg,
    )
    .map_err(user)?;
    let conditions = if judge_sets.is_empty() {
        Vec::new()
    } else {
        eprintln!("running the judge set's folds (one model or intervention kind held out) ...");
        let pool = data::refusal_pool();
        let base: Vec<&data::Dataset> = xs.iter().chain(&pyrit_train).chain([&pool]).collect();
        validate::judge_set_folds(&featurizer, &base, &judge_sets, &cfg).map_err(user)?
    };
    let md = validate::render_markdown(&folds, &conditions, &cfg);
    match &a.out {
        Some(p) => write_atomic(p, &md),
        None => {
            print!("{md}");
            Ok(())
        }
    }
}

/// The audit's files in its output folder.
const AUDIT_CSV: &str = "audit.csv";
const AUDIT_PAGE: &str = "audit.html";
const AUDIT_KEY: &str = "audit-key.json";

fn audit_cmd(a: AuditArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.run.join("judge-audit"));
    crate::out::check_out(&out, a.force)?;
    let run = spillover_pipeline::judge::run_replies(&a.run)?;
    let opts = audit::AuditOptions {
        n: a.n,
        min_per_stratum: a.min_per_stratum,
        seed: a.seed,
    };
    let sample = audit::draw(&run.replies, &run.judge, opts).map_err(user)?;
    let title = a
        .run
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| a.run.display().to_string());
    std::fs::create_dir_all(&out)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", out.display())))?;
    write_atomic(&out.join(AUDIT_CSV), &audit::csv_text(&sample.rows))?;
    write_atomic(
        &out.join(AUDIT_PAGE),
        &judge::audit_page::page(&title, &sample.rows),
    )?;
    write_atomic(
        &out.join(AUDIT_KEY),
        &(serde_json::to_string_pretty(&sample.key)? + "\n"),
    )?;
    println!(
        "{} of {} judged replies sampled (judge: {}), by stratum:",
        sample.rows.len(),
        run.replies.len(),
        run.judge
    );
    for s in &sample.key.strata {
        println!(
            "  {:<24} judged {:<10} {:>4} of {:>5}",
            s.condition, s.label, s.sampled, s.size
        );
    }
    println!(
        "wrote {} (open it in a browser), {} and {} (the judge's labels: keep it from the labeller)",
        out.join(AUDIT_PAGE).display(),
        out.join(AUDIT_CSV).display(),
        out.join(AUDIT_KEY).display()
    );
    Ok(())
}

fn calibrate_cmd(a: CalibrateArgs) -> Result<()> {
    let key_path = a
        .key
        .clone()
        .unwrap_or_else(|| a.run.join("judge-audit").join(AUDIT_KEY));
    if !key_path.is_file() {
        return Err(UsageError(format!(
            "{}: no audit key; pass --key with the audit-key.json that `spillover judge audit` \
             wrote",
            key_path.display()
        ))
        .into());
    }
    let key = calibrate::read_key(&key_path).map_err(user)?;
    let labels = calibrate::read_labels(&a.labels, &key).map_err(user)?;
    let run = spillover_pipeline::judge::run_replies(&a.run)?;
    let opts = calibrate::CalibrateOptions {
        resamples: a.resamples,
        confidence: a.confidence,
        seed: a.seed,
    };
    let c = calibrate::calibrate(&run.replies, &key, &labels, opts).map_err(user)?;
    let path = a.run.join(calibrate::FILE);
    write_atomic(&path, &(serde_json::to_string_pretty(&c)? + "\n"))?;
    println!(
        "{} of {} rows labelled; judge {}; {:.0}% intervals from {} replicates\n",
        c.labelled,
        c.rows,
        c.judge,
        100.0 * c.confidence,
        c.resamples
    );
    print!("{}", markdown_table(&c.condition_table()));
    for cond in c.conditions.iter().filter(|x| x.note.is_some()) {
        println!(
            "\n{}: {}",
            cond.condition,
            cond.note.as_deref().unwrap_or_default()
        );
    }
    if !c.changes.is_empty() {
        println!();
        print!("{}", markdown_table(&c.change_table()));
    }
    spillover_report::render_run(&a.run)?;
    println!(
        "\nwrote {}; report.md and report.html show it",
        path.display()
    );
    Ok(())
}

fn markdown_table(rows: &[Vec<String>]) -> String {
    let mut s = String::new();
    for (i, r) in rows.iter().enumerate() {
        s += &format!("| {} |\n", r.join(" | "));
        if i == 0 {
            s += &format!("|{}\n", "---|".repeat(r.len()));
        }
    }
    s
}
