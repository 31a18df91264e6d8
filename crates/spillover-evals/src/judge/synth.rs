//! Synthetic degenerate responses, generated deterministically from real (prompt, response)
//! pairs: human-labelled sets have almost no degenerate text, but a collapsed small model
//! produces a lot of it. Each kind imitates one failure seen in lobotomised models.

use spillover_core::rng::SplitMix64;

use super::data::LabelledItem;
use super::features::words;
use super::Label;

/// The kinds of degenerate text, generated in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nothing, whitespace or lone punctuation.
    Empty,
    /// A 1–4 word phrase from a real response repeated 8–60 times.
    WordLoop,
    /// A real sentence repeated 3–10 times.
    SentenceLoop,
    /// A real opening of 10–40 words that collapses into a loop of one of its phrases.
    CollapseMidway,
    /// One to three characters repeated 20–300 times (`!!!!`, `hahaha`, newlines).
    CharLoop,
    /// Random letter strings with spaces (8–60 "words" of 2–10 letters).
    Gibberish,
    /// 8–80 real words drawn at random from the responses, in no order.
    TokenSoup,
    /// A fluent compliant answer to a different prompt (no content word shared with it).
    OffTopic,
    /// The prompt itself repeated 3–8 times.
    PromptEcho,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Empty,
        Kind::WordLoop,
        Kind::SentenceLoop,
        Kind::CollapseMidway,
        Kind::CharLoop,
        Kind::Gibberish,
        Kind::TokenSoup,
        Kind::OffTopic,
        Kind::PromptEcho,
    ];
}

/// The workspace's SplitMix64 with the draws these examples have always used: indices by modulo
/// (the bias, at most n/2^64, is irrelevant here), so the synthetic set never changes.
struct Draws(SplitMix64);

impl Draws {
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.0.below_by_modulo((hi - lo + 1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }
}

/// `per_kind` examples of every [`Kind`], labelled degenerate, built from `pool` with `seed`.
/// The pool must hold at least one compliant item with a non-empty response.
pub fn degenerate_examples(pool: &[LabelledItem], per_kind: usize, seed: u64) -> Vec<LabelledItem> {
    let mut rng = Draws(SplitMix64::new(seed));
    let compliant: Vec<&LabelledItem> = pool
        .iter()
        .filter(|i| i.label == Label::Compliance && words(&i.response).len() >= 10)
        .collect();
    assert!(
        !compliant.is_empty(),
        "synthetic examples need compliant responses to start from"
    );
    let vocab: Vec<String> = {
        let mut v: Vec<String> = compliant.iter().flat_map(|i| words(&i.response)).collect();
        v.sort();
        v.dedup();
        v
    };
    let mut out = Vec::with_capacity(per_kind * Kind::ALL.len());
    for _ in 0..per_kind {
        for kind in Kind::ALL {
            let src = *rng.pick(&compliant);
            let prompt = rng.pick(pool).prompt.clone();
            let (prompt, response) = match kind {
                Kind::OffTopic => (unrelated_prompt(&mut rng, pool, src), src.response.clone()),
                Kind::PromptEcho => (prompt.clone(), repeat(&prompt, rng.range(3, 8), "\n")),
                _ => (prompt, generate(&mut rng, kind, &src.response, &vocab)),
            };
            out.push(LabelledItem {
                line: 0,
                prompt,
                response,
                label: Label::Degenerate,
                group: None,
            });
        }
    }
    out
}

fn repeat(unit: &str, times: usize, sep: &str) -> String {
    vec![unit; times].join(sep)
}

fn phrase(rng: &mut Draws, ws: &[String], max_len: usize) -> String {
    let len = rng.range(1, max_len.min(ws.len()));
    let start = rng.range(0, ws.len() - len);
    ws[start..start + len].join(" ")
}

fn generate(rng: &mut Draws, kind: Kind, text: &str, vocab: &[String]) -> String {
    let ws = words(text);
    match kind {
        Kind::Empty => rng
            .pick(&["", " ", "\n", "\n\n", "...", " . ", "\t"])
            .to_string(),
        Kind::WordLoop => {
            let sep = *rng.pick(&[" ", ", ", ". ", "\n"]);
            repeat(&phrase(rng, &ws, 4), rng.range(8, 60), sep)
        }
        Kind::SentenceLoop => {
            let sentences: Vec<&str> = text
                .split(['.', '\n', '!', '?'])
                .map(str::trim)
                .filter(|s| s.split_whitespace().count() >= 3)
                .collect();
            let s = if sentences.is_empty() {
                text.trim()
            } else {
                *rng.pick(&sentences)
            };
            let times = rng.range(3, 10);
            let sep = *rng.pick(&[" ", "\n"]);
            repeat(&format!("{s}."), times, sep)
        }
        Kind::CollapseMidway => {
            let head = ws[..rng.range(10, 40).min(ws.len())].join(" ");
            let tail = repeat(&phrase(rng, &ws, 3), rng.range(10, 40), " ");
            format!("{head} {tail}")
        }
        Kind::CharLoop => {
            let unit = *rng.pick(&["!", "a", "ha", "\n", "...", "0", "?", " -", "*", "xx"]);
            repeat(unit, rng.range(20, 300), "")
        }
        Kind::Gibberish => (0..rng.range(8, 60))
            .map(|_| {
                (0..rng.range(2, 10))
                    .map(|_| (b'a' + rng.range(0, 25) as u8) as char)
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" "),
        Kind::TokenSoup => (0..rng.range(8, 80))
            .map(|_| rng.pick(vocab).clone())
            .collect::<Vec<_>>()
            .join(" "),
        Kind::OffTopic | Kind::PromptEcho => unreachable!("built from the pool directly"),
    }
}

/// A prompt from `pool` that shares no content word with `src`'s prompt (best of 20 draws).
fn unrelated_prompt(rng: &mut Draws, pool: &[LabelledItem], src: &LabelledItem) -> String {
    let mut best: Option<(f64, &str)> = None;
    for _ in 0..20 {
        let p = &rng.pick(pool).prompt;
        let overlap = super::features::text_stats(p, &src.prompt).prompt_overlap;
        if best.is_none_or(|(o, _)| overlap < o) {
            best = Some((overlap, p));
        }
        if overlap == 0.0 {
            break;
        }
    }
    best.map(|(_, p)| p.to_string()).unwrap_or_default()
}
