//! `kl`: how far the tuned model's next-token distributions moved from the base model's on
//! benign prompts. For each prompt the base subject answers (greedy by default); then prompt +
//! answer is teacher-forced through both models, and KL(base ‖ tuned) = Σ p_base (log p_base −
//! log p_tuned) is averaged over the positions that predict the answer's tokens and the one
//! after it (the last prompt position and every answer position). Per item "kl" (nats).

use candle_core::{DType, Tensor, D};
use spillover_data::datasets::Item;
use spillover_engine::score::log_softmax;
use spillover_model::{Model, Step};

use super::record::{MetricRole, MetricSpec, Record};
use super::refusal::{format, user};
use super::subject::GenSpec;
use super::{
    check_items, in_chunks, BenchOptions, BenchOutput, BenchmarkKind, Error, Result, Subject,
};

/// Floats of [rows, positions, vocab] log-probabilities one batch may hold per model.
const LOGIT_FLOATS: usize = 1 << 25;

/// The per-item metric. Descriptive: KL from the base model is 0 before by definition, so a
/// test of "changed" could only ever say "loss".
pub(super) fn metrics() -> Vec<MetricSpec> {
    vec![MetricSpec::continuous(
        MetricRole::Diagnostic,
        "kl",
        false,
        "mean KL(base ‖ tuned) of the next-token distributions over the base response (nats)",
    )
    .with_margin(0.01)
    .descriptive()]
}

/// KL(base ‖ tuned) over `items` (prompts); both subjects must share a vocabulary. The prompt
/// format is the base subject's.
pub fn run_kl(
    base: &Subject,
    tuned: &Subject,
    items: &[Item],
    opts: &BenchOptions,
) -> Result<BenchOutput> {
    let kind = BenchmarkKind::Kl;
    check_items(kind, items)?;
    opts.validate(kind)?;
    check_compatible(base, tuned)?;
    let style = base.chat_style();
    let mut format = format(style, opts);
    format.scored_continuation =
        Some("the base model's response, teacher-forced through both models".into());
    let records = in_chunks(kind, items.len(), opts, |range, seed| {
        let chunk = &items[range];
        let prompts: Vec<String> = chunk
            .iter()
            .map(|it| base.dialogue(&[user(&it.text)]))
            .collect::<Result<_>>()?;
        let ids: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| base.encode(p, style))
            .collect::<Result<_>>()?;
        let gen = GenSpec {
            max_new_tokens: opts.max_new_tokens,
            sampling: opts.sampling_with_seed(seed),
            stop_strings: format.stop_strings.clone(),
        };
        let outs = base.generate(&ids, &gen, &opts.batching)?;
        let seqs: Vec<Vec<u32>> = ids
            .iter()
            .zip(&outs)
            .map(|(p, o)| p.iter().chain(&o.ids).copied().collect())
            .collect();
        let positions: Vec<usize> = outs.iter().map(|o| o.ids.len() + 1).collect();
        let kls = position_kls(base, tuned, &seqs, &positions, opts)?;
        Ok(chunk
            .iter()
            .zip(prompts)
            .zip(outs.into_iter().zip(kls))
            .map(|((it, prompt), (out, kl))| {
                let mean = kl.iter().sum::<f64>() / kl.len() as f64;
                let max = kl.iter().copied().fold(0.0, f64::max);
                let mut r = Record::new(&it.id, prompt).score("kl", mean);
                r.detail = Some(serde_json::json!({
                    "positions": kl.len(), "max_kl": max, "finish": out.finish,
                }));
                r.output = Some(out.text);
                r
            })
            .collect())
    })?;
    Ok(BenchOutput::new(
        kind,
        &format!("{} vs {}", base.label, tuned.label),
        format,
        metrics(),
        records,
    ))
}

/// Both models score the same token ids: one vocabulary size, one tokenizer size.
fn check_compatible(base: &Subject, tuned: &Subject) -> Result<()> {
    let (a, b) = (base.model.config(), tuned.model.config());
    if a.vocab_size != b.vocab_size || base.tokenizer.vocab_size() != tuned.tokenizer.vocab_size() {
        return Err(Error::BadInput(format!(
            "kl needs two models with one vocabulary: {} has {} logits ({} tokens), {} has {} ({})",
            base.label,
            a.vocab_size,
            base.tokenizer.vocab_size(),
            tuned.label,
            b.vocab_size,
            tuned.tokenizer.vocab_size()
        )));
    }
    Ok(())
}

/// For each sequence, KL(base ‖ tuned) at each of its last `positions[i]` positions.
fn position_kls(
    base: &Subject,
    tuned: &Subject,
    seqs: &[Vec<u32>],
    positions: &[usize],
    opts: &BenchOptions,
) -> Result<Vec<Vec<f64>>> {
    let vocab = base.model.config().vocab_size.max(1);
    let widest = positions.iter().copied().max().unwrap_or(1);
    let rows = (LOGIT_FLOATS / (widest * vocab)).max(1);
    let batching = spillover_engine::Batching {
        max_batch: Some(opts.batching.max_batch.map_or(rows, |m| m.min(rows))),
        ..opts.batching.clone()
    };
    let order: Vec<usize> = (0..seqs.len()).collect();
    let mut out = vec![Vec::new(); seqs.len()];
    for batch in batching.plan(&order, |i| seqs[i].len()) {
        let bseqs: Vec<Vec<u32>> = batch.iter().map(|&i| seqs[i].clone()).collect();
        let m = batch.iter().map(|&i| positions[i]).max().unwrap_or(1);
        let lp = tail_logprobs(base, &bseqs, m)?;
        let lq = tail_logprobs(tuned, &bseqs, m)?.to_device(lp.device())?;
        let kl: Vec<Vec<f32>> = (lp.exp()? * (&lp - &lq)?)?.sum(D::Minus1)?.to_vec2()?;
        for (row, &i) in batch.iter().enumerate() {
            let n = positions[i];
            out[i] = kl[row][m - n..].iter().map(|&x| x as f64).collect();
        }
    }
    Ok(out)
}

/// Log-probabilities [rows, m, vocab] (f32) at the last `m` positions of each left-padded row.
fn tail_logprobs(subject: &Subject, seqs: &[Vec<u32>], m: usize) -> Result<Tensor> {
    let model: &Model = subject.model;
    let step = Step::left_padded(seqs, subject.pad_id(), model.device())?;
    let t = step.mask.t;
    let mut hooks = subject.fresh_hooks();
    let h = model.forward_hidden(&step, None, hooks.as_mut())?;
    let logits = model.unembed(&h.narrow(1, t - m, m)?.contiguous()?)?;
    Ok(log_softmax(&logits.to_dtype(DType::F32)?)?)
}
