//! The three benchmark workloads, built from the model's tokenizer and chat template and the MMLU
//! file: chat prompts for greedy generation, four-choice questions for log-likelihood (in
//! lm-evaluation-harness's `mmlu_continuation` format), and fixed-length rows for prefill.

use crate::loglik::LoglikRequest;
use anyhow::{bail, Context, Result};
use spillover_model::LoadedModel;
use std::path::Path;

/// One MMLU row (the cache's `mmlu.jsonl`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct MmluRow {
    pub question: String,
    pub answer_a: String,
    pub answer_b: String,
    pub answer_c: String,
    pub answer_d: String,
    pub correct_answer: String,
    pub topic: String,
}

impl MmluRow {
    pub fn choices(&self) -> [&str; 4] {
        [
            &self.answer_a,
            &self.answer_b,
            &self.answer_c,
            &self.answer_d,
        ]
    }
    /// Index of the correct choice (A..D), None for the malformed rows.
    pub fn correct(&self) -> Option<usize> {
        ["A", "B", "C", "D"]
            .iter()
            .position(|c| *c == self.correct_answer)
    }
    /// lm-evaluation-harness's `mmlu_continuation` context (description + question).
    pub fn context(&self) -> String {
        format!(
            "The following are questions (with answers) about {}.\n\nQuestion: {}\nAnswer:",
            self.topic.replace('_', " "),
            self.question.trim()
        )
    }
}

/// Reads the MMLU rows, dropping those whose correct answer is not one of A–D.
pub fn read_mmlu(path: &Path) -> Result<Vec<MmluRow>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let row: MmluRow = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: expected an MMLU row", path.display(), i + 1))?;
        if row.correct().is_some() {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// `n` rows spread evenly over the file (it is sorted by topic), starting at `offset`.
pub fn spread<T: Clone>(rows: &[T], n: usize, offset: usize) -> Vec<T> {
    (0..n.min(rows.len()))
        .map(|i| rows[(offset + i * rows.len() / n) % rows.len()].clone())
        .collect()
}

/// The multiple-choice workload: the text pairs (for lm-evaluation-harness) and their token ids,
/// split as lm-evaluation-harness splits them (continuation = tokens of context + continuation
/// after the context's own tokens).
pub struct McWorkload {
    pub texts: Vec<(String, String)>,
    pub requests: Vec<LoglikRequest>,
    /// Correct choice of each question.
    pub answers: Vec<usize>,
}

pub fn mc_workload(lm: &LoadedModel, rows: &[MmluRow]) -> Result<McWorkload> {
    let tok = lm.tokenizer()?;
    let mut w = McWorkload {
        texts: vec![],
        requests: vec![],
        answers: vec![],
    };
    for row in rows {
        let ctx = row.context();
        let ctx_ids = tok.encode(&ctx, false)?;
        for choice in row.choices() {
            let cont = format!(" {}", choice.trim());
            let whole = tok.encode(&format!("{ctx}{cont}"), false)?;
            if whole.len() <= ctx_ids.len() {
                bail!("MMLU choice {cont:?} adds no token after its question");
            }
            w.requests.push(LoglikRequest {
                context: ctx_ids.clone(),
                continuation: whole[ctx_ids.len()..].to_vec(),
            });
            w.texts.push((ctx.clone(), cont));
        }
        w.answers.push(row.correct().expect("filtered"));
    }
    Ok(w)
}

/// Chat prompts (token ids): each question as one user message in the chat template, with the
/// generation prompt, tokenized without special tokens (as HF does).
pub fn chat_prompts(lm: &LoadedModel, rows: &[MmluRow]) -> Result<Vec<Vec<u32>>> {
    let (tok, chat) = (lm.tokenizer()?, lm.chat()?);
    rows.iter()
        .map(|r| Ok(tok.encode(&chat.render_user(r.question.trim())?, false)?))
        .collect()
}

/// `rows` rows of exactly `len` tokens cut from the tokenized questions.
pub fn prefill_rows(
    lm: &LoadedModel,
    rows: &[MmluRow],
    n: usize,
    len: usize,
) -> Result<Vec<Vec<u32>>> {
    let tok = lm.tokenizer()?;
    let mut ids = Vec::new();
    for r in rows.iter().cycle().take(rows.len().max(1) * 64) {
        ids.extend(tok.encode(&format!("{}\n", r.question), false)?);
        if ids.len() >= n * len {
            break;
        }
    }
    if ids.len() < n * len {
        bail!("not enough text for {n} prefill rows of {len} tokens");
    }
    Ok(ids.chunks(len).take(n).map(<[u32]>::to_vec).collect())
}
