//! `arithmetic`: each problem as one chat user message and a short greedy answer. "correct":
//! the first number of the answer equals the gold one (`27.0`, `-3`, `1,234` are read as
//! numbers); an answer that restates the problem ("15 + 12 = 27") is read after its first `=`. "gold_logprob": log p(gold answer string | templated prompt), which moves even when
//! a small model rarely gets the answer right.

use spillover_data::datasets::Item;

use super::extract::{arithmetic_answer, canonical_number};
use super::record::{binary, Record};
use super::refusal::{format, user};
use super::subject::GenSpec;
use super::{in_chunks, BenchOptions, BenchOutput, BenchmarkKind, Error, Result, Subject};

/// Runs `arithmetic` on `items` (each with a numeric `answer`).
pub(super) fn run(subject: &Subject, items: &[Item], opts: &BenchOptions) -> Result<BenchOutput> {
    let kind = BenchmarkKind::Arithmetic;
    let golds = items.iter().map(numeric_gold).collect::<Result<Vec<_>>>()?;
    let style = subject.chat_style();
    let mut format = format(style, opts);
    format.scored_continuation = Some("the gold answer, e.g. \"27\", after the prompt".into());
    let records = in_chunks(kind, items.len(), opts, |range, seed| {
        let chunk = &items[range.clone()];
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
        let reqs = chunk
            .iter()
            .zip(&prompts)
            .map(|(it, p)| subject.request(p, gold_text(it), style))
            .collect::<Result<Vec<_>>>()?;
        let lls = subject.loglik(&reqs, &opts.batching)?;
        let mut recs = Vec::with_capacity(chunk.len());
        for (k, ((it, prompt), (out, ll))) in chunk
            .iter()
            .zip(prompts)
            .zip(outs.into_iter().zip(lls))
            .enumerate()
        {
            let gold = &golds[range.start + k];
            let extracted = arithmetic_answer(&out.text);
            let correct = extracted.as_deref() == Some(gold.as_str());
            let mut r = Record::new(&it.id, prompt)
                .score("correct", binary(correct))
                .score("gold_logprob", ll.logprob);
            r.gold = Some(gold.clone());
            r.extracted = extracted;
            r.detail = Some(serde_json::json!({
                "extraction": "first number after the first `=`, else the first number",
                "gold_is_greedy": ll.is_greedy,
                "gold_tokens": ll.token_logprobs.len(),
                "finish": out.finish,
                "category": it.category,
            }));
            r.output = Some(out.text);
            recs.push(r);
        }
        Ok(recs)
    })?;
    Ok(BenchOutput::new(
        kind,
        &subject.label,
        format,
        kind.metrics(),
        records,
    ))
}

/// The item's answer as written (what log p is taken of).
fn gold_text(item: &Item) -> &str {
    item.answer.as_deref().unwrap_or_default().trim()
}

/// The item's answer in canonical number form, or an error naming the item.
pub(super) fn numeric_gold(item: &Item) -> Result<String> {
    let Some(answer) = &item.answer else {
        return Err(Error::item(&item.id, "has no `answer` (expected a number)"));
    };
    canonical_number(answer).ok_or_else(|| {
        Error::item(
            &item.id,
            format!("answer {answer:?} is not a number (expected e.g. 27, -3, 1,234 or 2.5)"),
        )
    })
}
