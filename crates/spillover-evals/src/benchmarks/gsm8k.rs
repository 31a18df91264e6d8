//! `gsm8k`: word problems answered step by step; the final number (after `####`, else after
//! "The answer is", else the last number) must equal the gold answer ("correct"). With
//! `few_shot = k`, k worked solutions of other items (their `target`, calculator annotations
//! `<<..>>` removed) come first: as earlier chat turns with a chat template, as
//! `Question:/Answer:` blocks without.
//!
//! "gold_logprob": log p(every token of the gold answer) after the same prompt with the
//! assistant turn prefilled with the item's own reference solution (annotations removed, its
//! final `#### n` line replaced by "The answer is"): how readily the model states the answer that
//! the reasoning in front of it reaches. It moves where accuracy sits at 0 for a small model.

use spillover_data::datasets::Item;
use spillover_model::chat::ChatMessage;

use super::arithmetic::numeric_gold;
use super::extract::gsm8k_answer;
use super::fewshot::choose_examples;
use super::record::{binary, MetricRole, MetricSpec, PromptFormat, Record};
use super::subject::GenSpec;
use super::{
    in_chunks, BenchOptions, BenchOutput, BenchmarkKind, Error, PromptStyle, Result, Subject,
};

/// Stop strings of the plain format (the model starting the next question).
const PLAIN_STOPS: [&str; 1] = ["Question:"];

/// The per-item metrics, headline first.
pub(super) fn metrics() -> Vec<MetricSpec> {
    use MetricRole::Capability;
    vec![
        MetricSpec::binary(
            Capability,
            "correct",
            true,
            "the final number (#### n, \"the answer is n\", else the last number) equals the answer",
        )
        .with_chance(0.0)
        .headline(),
        MetricSpec::continuous(
            Capability,
            "gold_logprob",
            true,
            "log p(every token of the gold answer | prompt, assistant turn prefilled with \
             the reference solution and \"The answer is\"), natural log",
        )
        .with_margin(0.1),
    ]
}

/// Runs `gsm8k` on `items` (each with a numeric `answer`; few-shot needs `target` solutions).
pub(super) fn run(subject: &Subject, items: &[Item], opts: &BenchOptions) -> Result<BenchOutput> {
    let kind = BenchmarkKind::Gsm8k;
    let golds = items.iter().map(numeric_gold).collect::<Result<Vec<_>>>()?;
    let shots = choose_examples(
        kind,
        items,
        opts.few_shot,
        opts.seed,
        |_, ex| ex.target.as_deref().is_some_and(|t| !t.trim().is_empty()),
        "with a worked solution (`target`)",
    )?;
    let reasonings = items.iter().map(reasoning).collect::<Result<Vec<_>>>()?;
    let style = subject.chat_style();
    let format = format(style, opts);
    let records = in_chunks(kind, items.len(), opts, |range, seed| {
        let mut prompts = Vec::with_capacity(range.len());
        for i in range.clone() {
            let examples: Vec<&Item> = shots[i].iter().map(|&j| &items[j]).collect();
            prompts.push(prompt(subject, style, &examples, &items[i])?);
        }
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
                let lead = if style == PromptStyle::Plain { " " } else { "" };
                let context = format!("{p}{lead}{}{ANSWER_LEAD}", reasonings[i]);
                let gold = items[i].answer.as_deref().unwrap_or_default().trim();
                subject.request(&context, &format!(" {gold}"), style)
            })
            .collect::<Result<Vec<_>>>()?;
        let lls = subject.loglik(&reqs, &opts.batching)?;
        Ok(range
            .zip(prompts)
            .zip(outs.into_iter().zip(lls))
            .map(|((i, prompt), (out, ll))| {
                let found = gsm8k_answer(&out.text);
                let extracted = found.as_ref().map(|(n, _)| n.clone());
                let correct = extracted.as_deref() == Some(golds[i].as_str());
                let mut r = Record::new(&items[i].id, prompt)
                    .score("correct", binary(correct))
                    .score("gold_logprob", ll.logprob);
                r.gold = Some(golds[i].clone());
                r.detail = Some(serde_json::json!({
                    "rule": found.map(|(_, rule)| rule.as_str()),
                    "few_shot_ids": shots[i].iter().map(|&j| &items[j].id).collect::<Vec<_>>(),
                    "finish": out.finish,
                    "new_tokens": out.new_tokens,
                    "gold_tokens": ll.token_logprobs.len(),
                    "gold_is_greedy": ll.is_greedy,
                }));
                r.extracted = extracted;
                r.output = Some(out.text);
                r
            })
            .collect())
    })?;
    Ok(BenchOutput::new(
        kind,
        &subject.label,
        format,
        metrics(),
        records,
    ))
}

fn format(style: PromptStyle, opts: &BenchOptions) -> PromptFormat {
    let (template, stops) = match style {
        PromptStyle::Chat => (
            "chat template: k × (user {question}, assistant {solution}), then user {question}, \
             generation prompt",
            vec![],
        ),
        PromptStyle::Plain => (
            "k × \"Question: {question}\\nAnswer: {solution}\\n\\n\", then \"Question: \
             {question}\\nAnswer:\"",
            PLAIN_STOPS.iter().map(|s| s.to_string()).collect(),
        ),
    };
    PromptFormat {
        style,
        template: template.to_string(),
        few_shot: opts.few_shot,
        max_new_tokens: opts.max_new_tokens,
        stop_strings: stops,
        sampling: Some(opts.seeded_sampling()),
        scored_continuation: Some(format!(
            "every token of \" {{gold}}\" after the prompt with the assistant turn prefilled \
             with the item's reference solution (annotations removed, without its `#### n` \
             line) and {ANSWER_LEAD:?}"
        )),
    }
}

/// What follows the reference solution before the gold answer is scored.
const ANSWER_LEAD: &str = "\nThe answer is";

/// The item's reference solution without calculator annotations and without its final
/// `#### n` line, or an error naming the item when it has none.
fn reasoning(item: &Item) -> Result<String> {
    let solution = solution(item);
    let body = solution
        .rsplit_once("####")
        .map_or(solution.as_str(), |(before, _)| before)
        .trim_end();
    if body.trim().is_empty() {
        return Err(Error::item(
            &item.id,
            "has no reference solution (`target`, reasoning before `#### n`) to score the gold \
             answer after",
        ));
    }
    Ok(body.to_string())
}

/// The prompt for `item` after the worked `examples`.
fn prompt(
    subject: &Subject,
    style: PromptStyle,
    examples: &[&Item],
    item: &Item,
) -> Result<String> {
    match style {
        PromptStyle::Chat => {
            let mut turns = Vec::new();
            for ex in examples {
                turns.push(ChatMessage::user(&ex.text));
                turns.push(ChatMessage::assistant(solution(ex)));
            }
            turns.push(ChatMessage::user(&item.text));
            subject.dialogue(&turns)
        }
        PromptStyle::Plain => {
            let mut out = String::new();
            for ex in examples {
                out.push_str(&format!(
                    "Question: {}\nAnswer: {}\n\n",
                    ex.text,
                    solution(ex)
                ));
            }
            out.push_str(&format!("Question: {}\nAnswer:", item.text));
            Ok(out)
        }
    }
}

/// A worked solution without GSM8K's calculator annotations (`<<48/2=24>>`).
fn solution(item: &Item) -> String {
    strip_calculator(item.target.as_deref().unwrap_or_default().trim())
}

/// `text` without `<<...>>` spans.
pub fn strip_calculator(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("<<") {
        match rest[open..].find(">>") {
            Some(close) => {
                out.push_str(&rest[..open]);
                rest = &rest[open + close + 2..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}
