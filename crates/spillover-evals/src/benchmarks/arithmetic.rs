//! `arithmetic`: each problem as one chat user message and a short greedy answer, after
//! `few_shot` worked examples (default 2): other items of the set as earlier turns, answered as
//! `a op b = c`. Without them the default 135M model mostly restates or rambles ("To add 4 and 7,
//! we need ..."), so the accuracy row measured answer format more than arithmetic; the examples
//! fix the format.
//!
//! - "correct": the first number of the answer equals the gold one (`27.0`, `-3`, `1,234` are
//!   read as numbers); an answer that restates the problem ("15 + 12 = 27") is read after its
//!   first `=`.
//! - "answered": the answer holds a number at all, so a model that stops answering with numbers
//!   (refuses, rambles) shows apart from one that computes wrongly.
//! - "gold_logprob": log p(the whole gold answer, every token of it | the templated prompt with
//!   the assistant turn prefilled with `a op b =`), natural log. The prefill puts the model where
//!   the answer's digits come next, so the score measures the arithmetic rather than how the
//!   model likes to start a reply; it moves even when a small model rarely gets the answer right.
//!
//! The items come in difficulty tiers ([`spillover_data::datasets::Tier`]: the operation and the
//! digit counts of the operands, the items' `category`); the summary adds the accuracy of each
//! tier (`correct:<tier>`, with `n:<tier>`). The default tiers and how they were chosen are
//! documented in docs/benchmarks.md.

use std::collections::BTreeMap;

use spillover_data::datasets::Item;
use spillover_model::chat::ChatMessage;

use super::extract::{arithmetic_answer, canonical_number};
use super::fewshot::choose_examples;
use super::record::{binary, MetricRole, MetricSpec, Record};
use super::refusal::{format, user};
use super::subject::GenSpec;
use super::{
    in_chunks, BenchOptions, BenchOutput, BenchmarkKind, Error, PromptStyle, Result, Subject,
};

/// The per-item metrics, headline first.
pub(super) fn metrics() -> Vec<MetricSpec> {
    use MetricRole::Capability;
    vec![
        MetricSpec::binary(
            Capability,
            "correct",
            true,
            "the answer's first number (after its first `=`, if any) equals the gold one",
        )
        .with_chance(0.0)
        .headline()
        .in_summary("Arithmetic accuracy"),
        MetricSpec::binary(Capability, "answered", true, "the answer contains a number"),
        MetricSpec::continuous(
            Capability,
            "gold_logprob",
            true,
            "log p(every token of the gold answer | prompt, assistant turn prefilled with \
             \"a op b =\"), natural log",
        )
        .with_margin(0.1),
    ]
}

/// Runs `arithmetic` on `items` (each with a numeric `answer` and the generator's `a`, `op`, `b`).
pub(super) fn run(subject: &Subject, items: &[Item], opts: &BenchOptions) -> Result<BenchOutput> {
    let kind = BenchmarkKind::Arithmetic;
    let golds = items.iter().map(numeric_gold).collect::<Result<Vec<_>>>()?;
    let shots = choose_examples(
        kind,
        items,
        opts.few_shot,
        opts.seed,
        |_, ex| ex.answer.is_some() && prefill(ex, PromptStyle::Chat).is_ok(),
        "with `a`, `op`, `b` and an answer",
    )?;
    let style = subject.chat_style();
    let prefills = items
        .iter()
        .map(|it| prefill(it, style))
        .collect::<Result<Vec<_>>>()?;
    let mut format = format(style, opts);
    format.few_shot = opts.few_shot;
    format.template = match style {
        PromptStyle::Chat => {
            "chat template: k × (user {example}, assistant \"{a} {op} {b} = {c}\"), \
                              then user {text}, generation prompt"
                .into()
        }
        PromptStyle::Plain => "k × \"User: {example}\nAssistant: {a} {op} {b} = {c}\n\n\", then \
                               \"User: {text}\nAssistant:\""
            .into(),
    };
    format.scored_continuation = Some(
        "every token of \" {gold}\" after the prompt with the assistant turn prefilled with \
         \"{a} {op} {b} =\""
            .into(),
    );
    let records = in_chunks(kind, items.len(), opts, |range, seed| {
        let chunk = &items[range.clone()];
        let prompts: Vec<String> = range
            .clone()
            .map(|i| {
                let mut turns = Vec::with_capacity(2 * shots[i].len() + 1);
                for &j in &shots[i] {
                    let ex = &items[j];
                    turns.push(user(&ex.text));
                    let eq = prefill(ex, PromptStyle::Chat)?;
                    turns.push(ChatMessage::assistant(format!("{eq} {}", gold_text(ex))));
                }
                turns.push(user(&items[i].text));
                subject.dialogue(&turns)
            })
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
        let reqs = range
            .clone()
            .zip(&prompts)
            .map(|(i, p)| {
                let context = format!("{p}{}", prefills[i]);
                subject.request(&context, &format!(" {}", gold_text(&items[i])), style)
            })
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
                .score("answered", binary(extracted.is_some()))
                .score("gold_logprob", ll.logprob);
            r.gold = Some(gold.clone());
            r.extracted = extracted;
            r.detail = Some(serde_json::json!({
                "extraction": "first number after the first `=`, else the first number",
                "prefill": prefills[range.start + k],
                "few_shot_ids": shots[range.start + k].iter().map(|&j| &items[j].id).collect::<Vec<_>>(),
                "gold_is_greedy": ll.is_greedy,
                "gold_tokens": ll.token_logprobs.len(),
                "gold_token_logprobs": ll.token_logprobs,
                "finish": out.finish,
                "category": it.category,
            }));
            r.output = Some(out.text);
            recs.push(r);
        }
        Ok(recs)
    })?;
    let mut out = BenchOutput::new(kind, &subject.label, format, metrics(), records);
    for (tier, (n, correct)) in per_tier(items, &out.records) {
        out.summary.insert(format!("n:{tier}"), n as f64);
        out.summary
            .insert(format!("correct:{tier}"), correct as f64 / n as f64);
    }
    Ok(out)
}

/// Items and correct answers per tier (the items' `category`; the probe is counted in its own).
fn per_tier(items: &[Item], records: &[Record]) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (it, r) in items.iter().zip(records) {
        let Some(tier) = &it.category else { continue };
        let e = out.entry(tier.clone()).or_default();
        e.0 += 1;
        e.1 += usize::from(r.scores.get("correct") == Some(&1.0));
    }
    out
}

/// The start of the assistant turn that the gold answer is scored after: `a op b =` from the
/// item's `a`, `op` and `b` (a space first in the plain format, after `Assistant:`).
fn prefill(item: &Item, style: PromptStyle) -> Result<String> {
    let field = |k: &str| {
        item.extra.get(k).map(|v| v.trim()).ok_or_else(|| {
            Error::item(
                &item.id,
                format!(
                    "has no `{k}` (arithmetic items carry the generator's `a`, `op` and `b`, \
                     which the gold answer's log-probability is scored after)"
                ),
            )
        })
    };
    let eq = format!("{} {} {} =", field("a")?, field("op")?, field("b")?);
    Ok(match style {
        PromptStyle::Chat => eq,
        PromptStyle::Plain => format!(" {eq}"),
    })
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
