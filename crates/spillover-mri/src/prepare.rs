//! From texts to the MRI's token-level inputs: chat-templated prompts, probes whose answer position
//! is found in the base model's own reply, the refusal token from the tuned model's reply, and
//! capability items with their answer tokens.

use crate::export::Tensors;
use crate::pipeline::{mri, MriInputs, MriOptions, MriResult};
use crate::probe::Probe;
use crate::subject::Subject;
use crate::validate::{CapabilityItem, IsRefusal};
use anyhow::{ensure, Result};
use spillover_engine::{generate, GenerateOptions};
use spillover_model::chat::ChatTemplate;
use spillover_model::tokenizer::Tokenizer;

/// A probe given as text; `answer` defaults to the result of a simple arithmetic question.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeText {
    pub name: String,
    pub text: String,
    pub answer: Option<String>,
}

/// The MRI's inputs as texts.
#[derive(Clone, Debug, Default)]
pub struct TextInputs {
    pub probes: Vec<ProbeText>,
    pub harmful: Vec<String>,
    pub harmless: Vec<String>,
    /// (question, answer) pairs.
    pub capability: Vec<(String, String)>,
}

/// The token-level inputs `MriInputs` takes.
pub struct Prepared {
    pub probes: Vec<Probe>,
    pub harmful: Vec<Vec<u32>>,
    /// The harmful prompts as text, in the order of `harmful`.
    pub harmful_texts: Vec<String>,
    pub harmless: Vec<Vec<u32>>,
    pub capability: Vec<CapabilityItem>,
}

/// Tokenizes prompts the way the model is used: as one user turn of its chat template (with the
/// generation prompt) when it has one and `chat` is set, else as plain text with BOS when the
/// tokenizer adds one.
pub struct Encoder<'a> {
    pub tok: &'a Tokenizer,
    pub chat: Option<&'a ChatTemplate>,
}

impl Encoder<'_> {
    /// The prompt's token ids.
    pub fn prompt(&self, text: &str) -> Result<Vec<u32>> {
        let ids = match self.chat {
            Some(c) => self.tok.encode(&c.render_user(text)?, false)?,
            None => self.tok.encode(text, true)?,
        };
        ensure!(
            !ids.is_empty(),
            "prompt {text:?} is empty after tokenization"
        );
        Ok(ids)
    }

    /// Text tokens without special tokens (an answer as it would follow a prompt).
    pub fn text(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tok.encode(text, false)?)
    }

    /// Each token decoded on its own (labels for heatmaps; special tokens kept).
    pub fn labels(&self, ids: &[u32]) -> Result<Vec<String>> {
        ids.iter()
            .map(|&i| Ok(self.tok.decode(&[i], false)?))
            .collect()
    }

    /// Token ids → text without special tokens.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.tok.decode(ids, true).unwrap_or_default()
    }
}

/// Builds the probes, prompt sets and capability items. Probe replies are greedy continuations of
/// at most `max_new_tokens` tokens (`stop_ids` end them).
pub fn prepare(
    base: &Subject,
    tuned: &Subject,
    enc: &Encoder,
    texts: &TextInputs,
    gen: &GenerateOptions,
    is_refusal: IsRefusal,
) -> Result<Prepared> {
    let encode_all =
        |v: &[String]| -> Result<Vec<Vec<u32>>> { v.iter().map(|t| enc.prompt(t)).collect() };
    let reply = |s: &Subject, ids: &[u32]| -> Result<Vec<u32>> {
        let g = generate(s.model, &[ids.to_vec()], gen, Some(&mut s.new_hooks()))?;
        Ok(g.into_iter().next().map(|g| g.new_ids).unwrap_or_default())
    };
    let mut probes = Vec::new();
    let mut refusal = None;
    for p in &texts.probes {
        let mut ids = enc.prompt(&p.text)?;
        let answer = p.answer.clone().or_else(|| arithmetic_answer(&p.text));
        let mut answer_id = None;
        if let Some(a) = &answer {
            // Read the answer where the base model gives it: after its own reply's lead-in.
            let r = reply(base, &ids)?;
            match answer_token(enc, &r, a) {
                Some(j) => {
                    ids.extend_from_slice(&r[..j]);
                    answer_id = Some(r[j]);
                }
                None => answer_id = enc.text(a)?.first().copied(),
            }
        }
        let tr = reply(tuned, &ids)?;
        if answer.is_none() && refusal.is_none() {
            let reply = enc.decode(&tr);
            if is_refusal(&[(p.text.as_str(), reply.as_str())])?.first() == Some(&true) {
                refusal = tr.first().copied();
            }
        }
        let mut probe = Probe::new(p.name.clone(), ids.clone(), enc.labels(&ids)?)
            .with_reply(&tr, enc.labels(&tr)?);
        probe.answer = answer_id;
        probes.push(probe);
    }
    let refusal = match refusal {
        Some(r) => Some(r),
        None => enc.text("I")?.first().copied(),
    };
    for p in probes.iter_mut().filter(|p| p.answer.is_some()) {
        p.refusal = refusal;
    }
    let capability = texts
        .capability
        .iter()
        .map(|(q, a)| {
            Ok(CapabilityItem {
                ids: enc.prompt(q)?,
                answer: a.clone(),
                answer_ids: enc.text(a)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Prepared {
        probes,
        harmful: encode_all(&texts.harmful)?,
        harmful_texts: texts.harmful.clone(),
        harmless: encode_all(&texts.harmless)?,
        capability,
    })
}

/// `prepare` and then `pipeline::mri` on its result: the whole MRI from texts, as the CLI and the
/// experiment pipeline run it. `gen` sets the probe replies (and `stop_ids` / `pad_id` of the rest).
#[allow(clippy::too_many_arguments)]
pub fn mri_from_texts(
    base: Subject,
    tuned: Subject,
    enc: &Encoder,
    texts: &TextInputs,
    gen: &GenerateOptions,
    is_refusal: IsRefusal,
    opts: &MriOptions,
    progress: Option<&(dyn Fn(&str) + Sync)>,
) -> Result<(MriResult, Tensors)> {
    if let Some(p) = progress {
        p("preparing probes and prompt sets");
    }
    let p = prepare(&base, &tuned, enc, texts, gen, is_refusal)?;
    let decode = |ids: &[u32]| enc.decode(ids);
    let inputs = MriInputs {
        base,
        tuned,
        probes: p.probes,
        harmful: p.harmful,
        harmful_texts: p.harmful_texts,
        harmless: p.harmless,
        capability: p.capability,
        pad_id: gen.pad_id,
        stop_ids: gen.stop_ids.clone(),
        decode: &decode,
        is_refusal,
        progress,
    };
    mri(&inputs, opts)
}

/// Index of the reply token where `answer` starts, if the reply contains it.
fn answer_token(enc: &Encoder, reply: &[u32], answer: &str) -> Option<usize> {
    let at = answer_position(&enc.decode(reply), answer)?;
    (0..reply.len()).find(|&j| enc.decode(&reply[..=j]).len() > at)
}

/// Byte offset of `answer` in `text`. A numeric answer must match a whole number (not a digit run
/// inside a longer number); the first match after an `=` wins, else the first match.
pub fn answer_position(text: &str, answer: &str) -> Option<usize> {
    let numeric = answer
        .trim_start_matches('-')
        .chars()
        .all(|c| c.is_ascii_digit());
    let whole = |i: usize| {
        let before = text[..i].chars().next_back();
        let after = text[i + answer.len()..].chars().next();
        !numeric
            || (!before.is_some_and(|c| c.is_ascii_digit())
                && !after.is_some_and(|c| c.is_ascii_digit()))
    };
    let hits: Vec<usize> = text
        .match_indices(answer)
        .map(|(i, _)| i)
        .filter(|&i| whole(i))
        .collect();
    let eq = text.find('=');
    hits.iter()
        .copied()
        .find(|&i| eq.is_some_and(|e| i > e))
        .or_else(|| hits.first().copied())
}

/// The answer of a simple arithmetic question ("What is 15 + 12?", "Compute 7 times 3."), if the
/// text contains `a op b` with op one of + - * x × plus minus times.
pub fn arithmetic_answer(text: &str) -> Option<String> {
    let spaced: String = text
        .chars()
        .flat_map(|c| match c {
            '+' | '*' | '×' => vec![' ', c, ' '],
            _ => vec![c],
        })
        .collect();
    let words: Vec<String> = spaced
        .split(|c: char| c.is_whitespace() || matches!(c, '?' | '.' | '=' | ','))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    for w in words.windows(3) {
        let (Ok(a), Ok(b)) = (w[0].parse::<i64>(), w[2].parse::<i64>()) else {
            continue;
        };
        let r = match w[1].as_str() {
            "+" | "plus" => a + b,
            "-" | "minus" => a - b,
            "*" | "x" | "×" | "times" => a * b,
            _ => continue,
        };
        return Some(r.to_string());
    }
    None
}
