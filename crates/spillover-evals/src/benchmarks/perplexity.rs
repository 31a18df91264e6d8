//! `perplexity`: rolling log-likelihood of each item — by default one independent document, a
//! WikiText-2 article ([`super::documents`]), so the comparison, which resamples items, resamples
//! documents — in disjoint windows (as
//! lm-evaluation-harness's `loglikelihood_rolling`), each text preceded by the BOS token (else
//! EOS) so its first token is scored. Per item "nll_per_token" and "bits_per_byte"; the summary
//! adds the corpus perplexity exp(Σ nll / Σ tokens) and corpus bits per byte.

use spillover_data::datasets::Item;
use spillover_engine::{rolling_loglikelihood, LoglikOptions, RollingOptions, RollingScore};

use super::record::{MetricRole, MetricSpec, PromptFormat, Record};
use super::{
    in_chunks, BenchOptions, BenchOutput, BenchmarkKind, Error, PromptStyle, Result, Subject,
};

/// The per-item metrics, headline first. Both measure the same log-likelihoods, so only
/// `nll_per_token` is tested.
pub(super) fn metrics() -> Vec<MetricSpec> {
    use MetricRole::Capability;
    vec![
        MetricSpec::continuous(
            Capability,
            "nll_per_token",
            false,
            "mean negative log-likelihood per token (nats)",
        )
        .with_margin(0.02),
        MetricSpec::continuous(
            Capability,
            "bits_per_byte",
            false,
            "negative log-likelihood in bits per UTF-8 byte",
        )
        .with_margin(0.01)
        .descriptive(),
    ]
}

/// Runs `perplexity` on `items` (each a document or passage of text).
pub(super) fn run(subject: &Subject, items: &[Item], opts: &BenchOptions) -> Result<BenchOutput> {
    let kind = BenchmarkKind::Perplexity;
    if let Some(it) = items.iter().find(|it| it.text.trim().is_empty()) {
        return Err(Error::item(&it.id, "has no text to score"));
    }
    let prefix = subject.tokenizer.bos_id().or(subject.tokenizer.eos_id());
    // The window is the model's context when the asked one is larger (the format says which).
    let window = opts.window.min(subject.model.config().max_positions);
    let rolling = RollingOptions {
        window,
        stride: window,
        prefix,
    };
    let mut scores = Vec::with_capacity(items.len());
    let records = in_chunks(kind, items.len(), opts, |range, _| {
        let chunk = &items[range];
        let texts: Vec<Vec<u32>> = chunk
            .iter()
            .map(|it| Ok(subject.tokenizer.encode(&it.text, false)?))
            .collect::<Result<_>>()?;
        let lopts = LoglikOptions {
            pad_id: subject.pad_id(),
            batching: spillover_engine::Batching {
                progress: false,
                ..opts.batching.clone()
            },
            share_context: false,
        };
        let mut hooks = subject.fresh_hooks();
        let scored =
            rolling_loglikelihood(subject.model, &texts, &rolling, &lopts, hooks.as_mut())?;
        let mut recs = Vec::with_capacity(chunk.len());
        for (it, s) in chunk.iter().zip(&scored) {
            let bytes = it.text.len();
            let mut r = Record::new(&it.id, &it.text)
                .score("nll_per_token", -s.logprob / s.tokens.max(1) as f64)
                .score("bits_per_byte", s.bits_per_byte(bytes));
            r.detail = Some(serde_json::json!({
                "logprob": s.logprob, "tokens": s.tokens, "bytes": bytes,
                "document": it.extra.get("document"),
            }));
            recs.push(r);
        }
        scores.extend(scored.into_iter().zip(chunk.iter().map(|it| it.text.len())));
        Ok(recs)
    })?;
    let format = PromptFormat {
        style: PromptStyle::Plain,
        template: format!(
            "the passage as plain text after the {} token, in disjoint windows of {window} \
             tokens{}",
            if subject.tokenizer.bos_id().is_some() {
                "BOS"
            } else {
                "EOS"
            },
            if window < opts.window {
                format!(" (the model's context; {} asked)", opts.window)
            } else {
                String::new()
            }
        ),
        few_shot: 0,
        max_new_tokens: 0,
        stop_strings: vec![],
        sampling: None,
        scored_continuation: Some("every token of the passage".into()),
    };
    let mut out = BenchOutput::new(kind, &subject.label, format, metrics(), records);
    let total = RollingScore::sum(scores.iter().map(|(s, _)| s));
    let bytes: usize = scores.iter().map(|(_, b)| b).sum();
    out.summary.insert("perplexity".into(), total.perplexity());
    out.summary
        .insert("corpus_bits_per_byte".into(), total.bits_per_byte(bytes));
    out.summary.insert("tokens".into(), total.tokens as f64);
    Ok(out)
}
