//! `diversity`: open-ended prompts (one chat user message each), answered with seeded sampling
//! by default. Per item: "distinct_2" (distinct word bigrams / bigrams), "repetition" (fraction
//! of word 3-grams that repeat an earlier one) and "length" (new tokens). The summary adds the
//! corpus-level distinct-1 and distinct-2 over all responses.

use spillover_data::datasets::Item;

use super::extract::{corpus_distinct_n, distinct_n, repetition, words};
use super::record::{MetricRole, MetricSpec, Record};
use super::refusal::{format, user};
use super::subject::GenSpec;
use super::{in_chunks, BenchOptions, BenchOutput, BenchmarkKind, Result, Subject};

/// The per-item metrics, headline first.
pub(super) fn metrics() -> Vec<MetricSpec> {
    use MetricRole::Diagnostic;
    vec![
        MetricSpec::continuous(
            Diagnostic,
            "distinct_2",
            true,
            "distinct word bigrams / bigrams in the response",
        ),
        MetricSpec::continuous(
            Diagnostic,
            "repetition",
            false,
            "fraction of word 3-grams that repeat an earlier one",
        ),
        MetricSpec::continuous(Diagnostic, "length", true, "new tokens generated").with_margin(8.0),
    ]
}

/// Runs `diversity` on `items` (open-ended prompts).
pub(super) fn run(subject: &Subject, items: &[Item], opts: &BenchOptions) -> Result<BenchOutput> {
    let kind = BenchmarkKind::Diversity;
    let style = subject.chat_style();
    let format = format(style, opts);
    let mut all_words = Vec::with_capacity(items.len());
    let records = in_chunks(kind, items.len(), opts, |range, seed| {
        let chunk = &items[range];
        let prompts: Vec<String> = chunk
            .iter()
            .map(|it| subject.dialogue(&[user(&it.text)]))
            .collect::<Result<_>>()?;
        let ids: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| subject.encode(p, style))
            .collect::<Result<_>>()?;
        let gen = GenSpec {
            max_new_tokens: opts.max_new_tokens,
            sampling: opts.sampling_with_seed(seed),
            stop_strings: format.stop_strings.clone(),
        };
        let outs = subject.generate(&ids, &gen, &opts.batching)?;
        let mut recs = Vec::with_capacity(chunk.len());
        for ((it, prompt), out) in chunk.iter().zip(prompts).zip(outs) {
            let w = words(&out.text);
            let mut r = Record::new(&it.id, prompt)
                .score("distinct_2", distinct_n(&w, 2))
                .score("repetition", repetition(&w))
                .score("length", out.new_tokens as f64);
            r.detail = Some(serde_json::json!({"words": w.len(), "finish": out.finish}));
            r.output = Some(out.text);
            all_words.push(w);
            recs.push(r);
        }
        Ok(recs)
    })?;
    let mut out = BenchOutput::new(kind, &subject.label, format, metrics(), records);
    out.summary
        .insert("corpus_distinct_1".into(), corpus_distinct_n(&all_words, 1));
    out.summary
        .insert("corpus_distinct_2".into(), corpus_distinct_n(&all_words, 2));
    Ok(out)
}
