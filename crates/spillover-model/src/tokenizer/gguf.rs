//! Rebuilding a tokenizer from a GGUF file's `tokenizer.*` metadata, the way HF transformers does.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::normalizers::Replace;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, DecoderWrapper, PreTokenizerWrapper, SplitDelimiterBehavior};

use super::{Specials, Tokenizer};
use crate::{Error, Result};

/// llama.cpp token types (`tokenizer.ggml.token_type`).
pub(super) const TYPE_NORMAL: i64 = 1;
const TYPE_UNKNOWN: i64 = 2;
pub(super) const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl Tokenizer {
    /// Opens a GGUF file and builds its tokenizer (see [`Tokenizer::from_gguf`]).
    pub fn from_gguf_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut file = std::fs::File::open(path)
            .map_err(|e| Error::bad_input(path, format!("cannot open GGUF file: {e}")))?;
        let content = Content::read(&mut file).map_err(|e| {
            // candle appends a backtrace when RUST_BACKTRACE is set; the user needs the first line.
            let e = e.to_string();
            let first = e.lines().next().unwrap_or("");
            Error::bad_input(path, format!("not a readable GGUF file: {first}"))
        })?;
        Self::from_gguf(path, &content)
    }

    /// Builds the tokenizer a GGUF file's `tokenizer.*` metadata describes; `path` names the file in errors.
    pub fn from_gguf(path: &Path, content: &Content) -> Result<Self> {
        Self::from_gguf_metadata(path, &content.metadata)
    }

    /// [`Tokenizer::from_gguf`] from the metadata map alone (also used to build in-memory tokenizers).
    pub fn from_gguf_metadata(path: &Path, md: &HashMap<String, Value>) -> Result<Self> {
        let meta = Meta { path, md };
        let model = meta.required("tokenizer.ggml.model", meta.string("tokenizer.ggml.model")?)?;
        let tokens = meta.required(
            "tokenizer.ggml.tokens",
            meta.strings("tokenizer.ggml.tokens")?,
        )?;
        let n = tokens.len();
        let types = match meta.list("tokenizer.ggml.token_type", |v| scalar(v).map(|x| x as i64))? {
            Some(t) if t.len() == n => t,
            Some(t) => return Err(meta.bad(format!("{} token types for {n} tokens", t.len()))),
            None => vec![TYPE_NORMAL; n],
        };
        let (inner, default_add_bos) = match model {
            "gpt2" => (byte_level_bpe(&meta, &tokens, &types)?, false),
            "llama" => (sentencepiece_bpe(&meta, &tokens, &types)?, true),
            other => {
                let msg = format!("unsupported tokenizer model {other:?} in tokenizer.ggml.model");
                return Err(meta.bad(msg + " (supported: \"gpt2\", \"llama\")"));
            }
        };
        let id = |key: &str| -> Result<Option<u32>> {
            match meta.number(key)? {
                Some(v) if v >= 0.0 && (v as usize) < n => Ok(Some(v as u32)),
                Some(v) => Err(meta.bad(format!("{key} = {v} is outside the {n} tokens"))),
                None => Ok(None),
            }
        };
        let add_bos = meta
            .number("tokenizer.ggml.add_bos_token")?
            .map(|x| x != 0.0);
        let specials = Specials {
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            pad: id("tokenizer.ggml.padding_token_id")?,
            unk: id("tokenizer.ggml.unknown_token_id")?,
            add_bos: add_bos.unwrap_or(default_add_bos),
            chat_template: meta.string("tokenizer.chat_template")?.map(str::to_string),
        };
        let mut tok = Self::assemble(inner, path, specials);
        tok.vocab_size = tok.vocab_size.max(n);
        Ok(tok)
    }
}

/// GGUF metadata access that names the file and key when something is off.
struct Meta<'a> {
    path: &'a Path,
    md: &'a HashMap<String, Value>,
}

impl Meta<'_> {
    fn bad(&self, msg: impl Into<String>) -> Error {
        Error::bad_input(self.path, msg)
    }

    fn string(&self, key: &str) -> Result<Option<&str>> {
        match self.md.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.bad(format!(
                "{key} should be a string, not {:?}",
                v.value_type()
            ))),
        }
    }

    /// A number (or a bool, as 0 or 1).
    fn number(&self, key: &str) -> Result<Option<f64>> {
        let Some(v) = self.md.get(key) else {
            return Ok(None);
        };
        scalar(v)
            .map(Some)
            .ok_or_else(|| self.bad(format!("{key} should be a number")))
    }

    /// An array whose items `item` reads.
    fn list<'m, T>(
        &'m self,
        key: &str,
        item: fn(&'m Value) -> Option<T>,
    ) -> Result<Option<Vec<T>>> {
        let Some(v) = self.md.get(key) else {
            return Ok(None);
        };
        let bad = || {
            self.bad(format!(
                "{key} should be an array of {}",
                std::any::type_name::<T>()
            ))
        };
        let Value::Array(items) = v else {
            return Err(bad());
        };
        items
            .iter()
            .map(|v| item(v).ok_or_else(bad))
            .collect::<Result<Vec<T>>>()
            .map(Some)
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<&str>>> {
        self.list(key, |v| match v {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
    }

    fn required<T>(&self, key: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| self.bad(format!("GGUF metadata has no {key}, so no tokenizer")))
    }
}

fn scalar(v: &Value) -> Option<f64> {
    Some(match v {
        Value::U8(x) => *x as f64,
        Value::I8(x) => *x as f64,
        Value::U16(x) => *x as f64,
        Value::I16(x) => *x as f64,
        Value::U32(x) => *x as f64,
        Value::I32(x) => *x as f64,
        Value::U64(x) => *x as f64,
        Value::I64(x) => *x as f64,
        Value::F32(x) => *x as f64,
        Value::F64(x) => *x,
        Value::Bool(x) => *x as u8 as f64,
        Value::String(_) | Value::Array(_) => return None,
    })
}

/// Control (and unknown) tokens as special added tokens, user-defined ones as plain added tokens, both
/// matched on the raw text. `keep` filters the user-defined ones.
fn added_tokens(
    tokens: &[&str],
    types: &[i64],
    keep: impl Fn(&str) -> bool,
) -> (Vec<AddedToken>, Vec<AddedToken>) {
    let (mut special, mut plain) = (Vec::new(), Vec::new());
    for (token, &kind) in tokens.iter().zip(types) {
        match kind {
            TYPE_CONTROL | TYPE_UNKNOWN => {
                special.push(AddedToken::from(*token, true).normalized(false))
            }
            TYPE_USER_DEFINED if keep(token) => {
                plain.push(AddedToken::from(*token, false).normalized(false))
            }
            _ => {}
        }
    }
    (special, plain)
}

fn finish_tokenizer(
    meta: &Meta,
    mut tok: tokenizers::Tokenizer,
    added: (Vec<AddedToken>, Vec<AddedToken>),
) -> Result<tokenizers::Tokenizer> {
    let err = |e: tokenizers::Error| meta.bad(format!("cannot register the added tokens: {e}"));
    tok.add_special_tokens(added.0).map_err(err)?;
    tok.add_tokens(added.1).map_err(err)?;
    Ok(tok)
}

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the rest map past U+0100.
pub(super) fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        table[b as usize] = if printable {
            b as char
        } else {
            next += 1;
            char::from_u32(next - 1).expect("valid char")
        };
    }
    table
}

fn byte_level_bpe(meta: &Meta, tokens: &[&str], types: &[i64]) -> Result<tokenizers::Tokenizer> {
    let table = bytes_to_unicode();
    let alphabet: std::collections::HashSet<char> = table.iter().copied().collect();
    let mut vocab = Vocab::default();
    for (id, (token, &kind)) in tokens.iter().zip(types).enumerate() {
        // llama.cpp writes tokens in byte-level spelling, except some whose bytes do not decode; spell those
        // back the way the merges name them. Added tokens keep their raw text, which is what they match.
        let spelled = if matches!(kind, TYPE_CONTROL | TYPE_USER_DEFINED)
            || token.chars().all(|c| alphabet.contains(&c))
        {
            token.to_string()
        } else {
            token.bytes().map(|b| table[b as usize]).collect()
        };
        vocab.entry(spelled).or_insert(id as u32);
    }
    let merges = meta.required(
        "tokenizer.ggml.merges",
        meta.strings("tokenizer.ggml.merges")?,
    )?;
    let merges: Merges = merges
        .iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect::<Option<_>>()
        .ok_or_else(|| {
            meta.bad("tokenizer.ggml.merges holds an entry that is not two tokens split by a space")
        })?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| meta.bad(format!("vocabulary and merges do not fit together: {e}")))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    let pre = meta.string("tokenizer.ggml.pre")?.unwrap_or("default");
    tok.with_pre_tokenizer(Some(byte_level_pre_tokenizer(pre)));
    tok.with_decoder(Some(ByteLevel::default()));
    finish_tokenizer(meta, tok, added_tokens(tokens, types, |_| true))
}

/// The split a `tokenizer.ggml.pre` name stands for, in front of the byte-level mapping. Names not listed
/// get GPT-2's split, which is what `ByteLevel(use_regex)` applies (as HF does for them).
fn byte_level_pre_tokenizer(pre: &str) -> PreTokenizerWrapper {
    let regex = match pre {
        // StarCoder-family vocabularies (SmolLM2's included) were trained on digits split one by one.
        "smollm" | "starcoder" | "refact" => {
            let steps = vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ];
            return PreSequence::new(steps).into();
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "smaug-bpe" | "dbrx" => LLAMA3_SPLIT,
        "qwen2" | "deepseek-r1-qwen" => QWEN2_SPLIT,
        _ => return ByteLevel::new(false, true, true).into(),
    };
    let split = Split::new(
        SplitPattern::Regex(regex.to_string()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .expect("built-in pre-tokenizer regex compiles");
    PreSequence::new(vec![
        split.into(),
        ByteLevel::new(false, true, false).into(),
    ])
    .into()
}

/// Gemma writes a run of spaces as spaces where sentencepiece writes `▁`.
fn is_space_run(token: &str) -> bool {
    !token.is_empty() && token.chars().all(|c| c == ' ')
}

fn sentencepiece_bpe(meta: &Meta, tokens: &[&str], types: &[i64]) -> Result<tokenizers::Tokenizer> {
    let gemma = tokens.iter().any(|t| is_space_run(t));
    let spelled: Vec<String> = tokens
        .iter()
        .map(|t| {
            if gemma && is_space_run(t) {
                "▁".repeat(t.chars().count())
            } else {
                t.to_string()
            }
        })
        .collect();
    let scores = match meta.list("tokenizer.ggml.scores", scalar)? {
        Some(s) if s.len() == tokens.len() => s,
        _ if gemma => vec![0.0; tokens.len()],
        _ => {
            return Err(meta
                .bad("tokenizer.ggml.scores is missing or does not match tokenizer.ggml.tokens"))
        }
    };
    // Gemma's scores are merge ranks with placeholders punched through them: its vocabulary order ranks the
    // merges. Elsewhere the scores are sentencepiece log-probabilities and rank them.
    let rank: Vec<f64> = if gemma {
        (0..tokens.len()).map(|i| -(i as f64)).collect()
    } else {
        scores.clone()
    };
    let mergeable: Vec<bool> = types
        .iter()
        .zip(&spelled)
        .map(|(&kind, t)| {
            kind == TYPE_NORMAL || (kind == TYPE_USER_DEFINED && t.chars().all(|c| c == '▁'))
        })
        .collect();
    let merges = derive_merges(&spelled, &scores, &rank, &mergeable);
    let mut vocab = Vocab::default();
    for (id, token) in spelled.iter().enumerate() {
        vocab.entry(token.clone()).or_insert(id as u32);
    }
    let unk_id = meta.number("tokenizer.ggml.unknown_token_id")?;
    let mut bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(true)
        .byte_fallback(true);
    if let Some(unk) = unk_id.and_then(|id| spelled.get(id as usize)) {
        bpe = bpe.unk_token(unk.clone());
    }
    let bpe = bpe
        .build()
        .map_err(|e| meta.bad(format!("cannot build the sentencepiece BPE: {e}")))?;
    let mut tok = tokenizers::Tokenizer::new(bpe);
    let replace = |from: &str, to: &str| Replace::new(from, to).expect("literal pattern compiles");
    let mut decoder: Vec<DecoderWrapper> = vec![
        replace("▁", " ").into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if gemma {
        let normalizer = Some(replace(" ", "▁"));
        tok.with_normalizer(normalizer)
            .map_err(|e| meta.bad(e.to_string()))?;
    } else {
        // Llama-2 style: a `▁` before the first word (unless the file says not), stripped when decoding.
        let prefix = meta
            .number("tokenizer.ggml.add_space_prefix")?
            .is_none_or(|x| x != 0.0);
        let scheme = if prefix {
            PrependScheme::First
        } else {
            PrependScheme::Never
        };
        tok.with_pre_tokenizer(Some(Metaspace::new('▁', scheme, false)));
        if prefix {
            decoder.push(Strip::new(' ', 1, 0).into());
        }
    }
    tok.with_decoder(Some(DecoderSequence::new(decoder)));
    let added = added_tokens(tokens, types, |t| !(gemma && is_space_run(t)));
    finish_tokenizer(meta, tok, added)
}

/// Sentencepiece BPE merges from a vocabulary: each way of writing a mergeable token as two tokens, ordered
/// by the token's `rank` (highest first), and within one token by the pieces' scores.
fn derive_merges(tokens: &[String], scores: &[f64], rank: &[f64], mergeable: &[bool]) -> Merges {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        index.entry(t.as_str()).or_insert(i);
    }
    let mut merges: Vec<(usize, usize, usize)> = Vec::new();
    let mut local = Vec::new();
    for (i, token) in tokens.iter().enumerate().filter(|(i, _)| mergeable[*i]) {
        local.clear();
        for (cut, _) in token.char_indices().skip(1) {
            let (l, r) = token.split_at(cut);
            if let (Some(&li), Some(&ri)) = (index.get(l), index.get(r)) {
                local.push((li, ri));
            }
        }
        local.sort_by(|a, b| {
            (scores[b.0], scores[b.1])
                .partial_cmp(&(scores[a.0], scores[a.1]))
                .unwrap()
        });
        merges.extend(local.iter().map(|&(l, r)| (l, r, i)));
    }
    merges.sort_by(|a, b| rank[b.2].total_cmp(&rank[a.2]));
    merges
        .into_iter()
        .map(|(l, r, _)| (tokens[l].clone(), tokens[r].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_matches_gpt2() {
        let t = bytes_to_unicode();
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'\n' as usize], 'Ċ');
        assert_eq!(t[b'A' as usize], 'A');
        assert_eq!(
            t.iter().collect::<std::collections::HashSet<_>>().len(),
            256
        );
    }

    #[test]
    fn pre_tokenizers_split_as_their_names_say() {
        use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
        let split = |pre: &str, text: &str| {
            let mut pts = PreTokenizedString::from(text);
            byte_level_pre_tokenizer(pre)
                .pre_tokenize(&mut pts)
                .unwrap();
            let splits = pts.get_splits(OffsetReferential::Original, OffsetType::Byte);
            splits
                .into_iter()
                .map(|(s, _, _)| s.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(split("smollm", "a 12"), ["a", "Ġ", "1", "2"]);
        assert_eq!(split("gpt2", "a 12"), ["a", "Ġ12"]);
        assert_eq!(split("llama-bpe", "a 12345"), ["a", "Ġ", "123", "45"]);
        assert_eq!(split("qwen2", "a 12"), ["a", "Ġ", "1", "2"]);
    }

    #[test]
    fn merges_follow_rank_then_piece_scores() {
        let tokens: Vec<String> = ["a", "b", "ab", "abb", "bb"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let scores = [0.0, -1.0, -2.0, -3.0, -4.0];
        let rank: Vec<f64> = (0..5).map(|i| -(i as f64)).collect();
        let merges = derive_merges(&tokens, &scores, &rank, &[true; 5]);
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "b"), ("a", "bb"), ("ab", "b"), ("b", "b")]);
    }
}
