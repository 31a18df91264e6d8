//! `spillover judge`: the refusal judge — evaluate both judges against human labels, rebuild the
//! learned judge's head, and run the held-out validation reported in docs/judge.md.

use spillover_errors::UserFixable;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::Device;
use clap::{Args, Subcommand, ValueEnum};
use spillover_evals::judge::{
    self, data, eval::Confusion, featurize::Featurizer, head::Head, locate, minilm, train,
    validate, KeywordJudge, Label, LearnedJudge, RefusalJudge,
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
PyRIT's two refusal sets (plus synthetic degenerate text made from them, with a fixed seed) and write it \
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
        long_about = "Leave one XSTest model out (train on the other two models' completions and \
PyRIT's sets, test on the third), then hold PyRIT's sets out (train on all XSTest completions). Prints \
agreement and Cohen's kappa per held-out set for both judges, and the confusion matrices, as markdown."
    )]
    Validate(ValidateArgs),
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

pub fn run(a: JudgeArgs) -> Result<()> {
    match a.command {
        JudgeCommand::Eval(e) => eval(e),
        JudgeCommand::Train(t) => train_cmd(t),
        JudgeCommand::Validate(v) => validate_cmd(v),
    }
}

/// Judge errors the user can fix exit with code 2.
fn user(e: judge::Error) -> anyhow::Error {
    if e.user_can_fix() {
        UsageError(e.to_string()).into()
    } else {
        anyhow::Error::new(e)
    }
}

fn encoder() -> Result<minilm::MiniLm> {
    let dir =
        locate::resolve_asset(&spillover_data::cache_root(), minilm::ASSET_ID).map_err(user)?;
    minilm::MiniLm::load(&dir, &Device::Cpu).map_err(user)
}

fn data_dirs(d: &DataArgs) -> Result<(PathBuf, PathBuf)> {
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
    Ok((xstest, pyrit))
}

/// Writes `text` to `path` through a temporary file in the same folder, so a failed run leaves
/// no half-written file.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)
        .map_err(|e| UsageError(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

fn eval(a: EvalArgs) -> Result<()> {
    let map = data::LabelMap::parse(a.map.as_deref().unwrap_or("")).map_err(user)?;
    let cols = data::Columns {
        prompt: &a.prompt_col,
        response: &a.completion_col,
        label: &a.label_col,
    };
    let set = data::read_labelled(&a.labels, cols, &map).map_err(user)?;
    if set.items.is_empty() {
        return Err(UsageError(format!("{}: no labelled rows", a.labels.display())).into());
    }
    let pairs = set.pairs();
    let mut judges: Vec<Box<dyn RefusalJudge>> = vec![Box::new(KeywordJudge::default())];
    if !a.keyword_only {
        let head = match &a.head {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| UsageError(format!("cannot read {}: {e}", p.display())))?;
                Head::from_json(&text, &p.display().to_string()).map_err(user)?
            }
            None => Head::bundled(),
        };
        eprintln!(
            "embedding {} responses with {} ...",
            pairs.len(),
            minilm::ASSET_ID
        );
        judges.push(Box::new(LearnedJudge::new(encoder()?, head).map_err(user)?));
    }
    let fold = a.degenerate_as.map(|f| match f {
        FoldLabel::Refusal => Label::Refusal,
        FoldLabel::Compliance => Label::Compliance,
    });
    let mut results = Vec::new();
    for j in &judges {
        let verdicts = j.judge_batch(&pairs).map_err(user)?;
        let mut c = Confusion::from_pairs(
            set.items
                .iter()
                .zip(&verdicts)
                .map(|(i, v)| (i.label, v.label)),
        );
        if let Some(l) = fold {
            c = c.degenerate_as(l);
        }
        results.push((j.name().to_string(), c));
    }
    print_eval(&set, &results, a.json)
}

fn print_eval(set: &data::Dataset, results: &[(String, Confusion)], json: bool) -> Result<()> {
    let human = train::counts(&set.items);
    if json {
        let judges: Vec<_> = results
            .iter()
            .map(|(name, c)| {
                let kappa = c.kappa();
                serde_json::json!({
                    "judge": name, "agreement": c.agreement(),
                    "kappa": if kappa.is_nan() { None } else { Some(kappa) },
                    "confusion": c.counts, "labels": Label::ALL,
                })
            })
            .collect();
        let v = serde_json::json!({
            "file": set.path, "sha256": set.sha256, "n": set.items.len(),
            "human": {"refusal": human[0], "compliance": human[1], "degenerate": human[2]},
            "judges": judges,
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
    Ok(())
}

fn train_cmd(a: TrainArgs) -> Result<()> {
    crate::out::check_out(&a.out, a.force)?;
    let (xstest, pyrit) = data_dirs(&a.data)?;
    let sets = train::standard_datasets(&xstest, &pyrit, a.limit).map_err(user)?;
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
    let (xstest, pyrit) = data_dirs(&a.data)?;
    let xs = data::XSTEST_MODELS
        .iter()
        .map(|m| data::read_xstest(&xstest, m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(user)?;
    let pyrit_train = train::pyrit_datasets(&pyrit, true).map_err(user)?;
    let pyrit_test = train::pyrit_datasets(&pyrit, false).map_err(user)?;
    let cfg = train::TrainConfig::default();
    let enc = encoder()?;
    let featurizer = Featurizer::new(&enc, cfg.limits);
    eprintln!(
        "running {} folds (embedding takes a few minutes on the CPU) ...",
        xs.len() + 1
    );
    let folds =
        validate::leave_one_out(&featurizer, &xs, &pyrit_train, &pyrit_test, &cfg).map_err(user)?;
    let md = validate::render_markdown(&folds, &cfg);
    match &a.out {
        Some(p) => write_atomic(p, &md),
        None => {
            print!("{md}");
            Ok(())
        }
    }
}
