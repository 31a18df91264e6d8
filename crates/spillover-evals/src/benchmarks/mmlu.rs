//! `mmlu`: multiple choice by log-likelihood, in lm-evaluation-harness's format. The context is
//! "The following are multiple choice questions (with answers) about {subject}.\n\n{question}\n
//! A. ..\nB. ..\nC. ..\nD. ..\nAnswer:" and the continuations " A" .. " D", scored from one
//! shared encoding of the context. "correct" takes the most likely letter (acc), "correct_norm"
//! divides each log-likelihood by the continuation's bytes first (acc_norm; with one-letter
//! continuations of equal length the two agree), "gold_logprob" is log p(gold letter)
//! renormalised over the choices. With `few_shot = k`, k other items of the same subject (with
//! their answers) come first.

use spillover_data::datasets::Item;

use super::extract::{choose, renormalised_logprob};
use super::fewshot::choose_examples;
use super::record::{binary, MetricRole, MetricSpec, PromptFormat, Record};
use super::{
    in_chunks, BenchOptions, BenchOutput, BenchmarkKind, Error, PromptStyle, Result, Subject,
};

const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The per-item metrics, headline first.
pub(super) fn metrics() -> Vec<MetricSpec> {
    use MetricRole::Capability;
    vec![
        MetricSpec::binary(
            Capability,
            "correct",
            true,
            "the most likely answer letter is the gold one (acc)",
        )
        .with_chance(0.25)
        .headline()
        .in_summary("MMLU accuracy"),
        MetricSpec::binary(
            Capability,
            "correct_norm",
            true,
            "the same with log-likelihoods divided by the continuation's bytes (acc_norm)",
        )
        .with_chance(0.25),
        MetricSpec::continuous(
            Capability,
            "gold_logprob",
            true,
            "log p(gold letter), renormalised over the choices",
        ),
    ]
}

/// Runs `mmlu` on `items` (each with 2–26 `choices` and a letter `answer`).
pub(super) fn run(subject: &Subject, items: &[Item], opts: &BenchOptions) -> Result<BenchOutput> {
    let kind = BenchmarkKind::Mmlu;
    let golds = items.iter().map(gold_index).collect::<Result<Vec<_>>>()?;
    let shots = choose_examples(
        kind,
        items,
        opts.few_shot,
        opts.seed,
        |it, ex| ex.category == it.category,
        "of the same subject",
    )?;
    let style = PromptStyle::Plain;
    let records = in_chunks(kind, items.len(), opts, |range, _| {
        let mut contexts = Vec::with_capacity(range.len());
        let mut reqs = Vec::new();
        for i in range.clone() {
            let examples: Vec<&Item> = shots[i].iter().map(|&j| &items[j]).collect();
            let ctx = context(&items[i], &examples);
            for c in 0..items[i].choices.len() {
                reqs.push(subject.request(&ctx, &continuation(c), style)?);
            }
            contexts.push(ctx);
        }
        let lls = subject.loglik(&reqs, &opts.batching)?;
        let mut at = 0;
        let mut recs = Vec::with_capacity(range.len());
        for (i, ctx) in range.zip(contexts) {
            let n = items[i].choices.len();
            let lps: Vec<f64> = lls[at..at + n].iter().map(|l| l.logprob).collect();
            at += n;
            recs.push(record(&items[i], ctx, &lps, golds[i]));
        }
        Ok(recs)
    })?;
    let format = PromptFormat {
        style,
        template: "\"The following are multiple choice questions (with answers) about {subject}.\\n\\n\" \
                   + k × \"{question}\\nA. {a}\\nB. {b}\\nC. {c}\\nD. {d}\\nAnswer: {letter}\\n\\n\" \
                   + \"{question}\\nA. {a}\\nB. {b}\\nC. {c}\\nD. {d}\\nAnswer:\""
            .to_string(),
        few_shot: opts.few_shot,
        max_new_tokens: 0,
        stop_strings: vec![],
        sampling: None,
        scored_continuation: Some("\" A\", \" B\", \" C\", \" D\" (shared context)".to_string()),
    };
    Ok(BenchOutput::new(
        kind,
        &subject.label,
        format,
        metrics(),
        records,
    ))
}

/// The scored record of one item given the choices' log-likelihoods.
fn record(item: &Item, prompt: String, lps: &[f64], gold: usize) -> Record {
    let bytes: Vec<usize> = (0..lps.len()).map(|c| continuation(c).len()).collect();
    let (pick, pick_norm) = choose(lps, &bytes).expect("at least two choices");
    let mut r = Record::new(&item.id, prompt)
        .score("correct", binary(pick == gold))
        .score("correct_norm", binary(pick_norm == gold))
        .score("gold_logprob", renormalised_logprob(lps, gold));
    r.gold = Some(letter(gold));
    r.extracted = Some(letter(pick));
    r.detail = Some(serde_json::json!({
        "choice_logprobs": lps,
        "pick_norm": letter(pick_norm),
        "subject": item.category,
    }));
    r
}

/// The letter of choice `i`.
fn letter(i: usize) -> String {
    (LETTERS[i] as char).to_string()
}

/// The continuation of choice `i`: a space and its letter.
fn continuation(i: usize) -> String {
    format!(" {}", letter(i))
}

/// The question with its lettered choices, ending in "Answer:".
fn question_block(item: &Item) -> String {
    let mut s = format!("{}\n", item.text.trim());
    for (i, c) in item.choices.iter().enumerate() {
        s.push_str(&format!("{}. {}\n", letter(i), c.trim()));
    }
    s.push_str("Answer:");
    s
}

/// The full context: the subject line, the worked examples, the question.
pub fn context(item: &Item, examples: &[&Item]) -> String {
    let subject = item.category.as_deref().unwrap_or("general knowledge");
    let subject = subject.replace('_', " ");
    let mut s =
        format!("The following are multiple choice questions (with answers) about {subject}.\n\n");
    for ex in examples {
        let gold = ex.answer.as_deref().unwrap_or_default().trim();
        s.push_str(&format!("{} {gold}\n\n", question_block(ex)));
    }
    s.push_str(&question_block(item));
    s
}

/// The index of the item's gold letter, checking the choices.
fn gold_index(item: &Item) -> Result<usize> {
    let n = item.choices.len();
    if !(2..=LETTERS.len()).contains(&n) {
        return Err(Error::item(
            &item.id,
            format!("has {n} choices (expected 2 to 26, e.g. MMLU's four)"),
        ));
    }
    let answer = item.answer.as_deref().unwrap_or_default().trim();
    let valid = &LETTERS[..n];
    match answer.as_bytes() {
        [b] if valid.contains(b) => Ok((b - b'A') as usize),
        _ => Err(Error::item(
            &item.id,
            format!(
                "answer {answer:?} is not one of the letters {}",
                String::from_utf8_lossy(valid)
            ),
        )),
    }
}
