//! Tokenizers: a HF `tokenizer.json` (with `tokenizer_config.json` beside it), or one rebuilt from a GGUF
//! file's metadata the way HF transformers rebuilds it (`integrations/ggml.py`):
//!
//! - `tokenizer.ggml.model = "gpt2"`: byte-level BPE over `tokens` + `merges`, the pre-tokenizer picked by
//!   `tokenizer.ggml.pre` (SmolLM2's `smollm`: `Digits(individual)` then `ByteLevel(use_regex)`).
//! - `tokenizer.ggml.model = "llama"`: sentencepiece BPE with byte fallback. The file has no merges, so they
//!   are derived from the vocabulary: every split of a token into two tokens is a merge, ranked by the token's
//!   position (Gemma, whose "scores" are merge ranks) or by its score (Llama-2 style).
//!
//! Control tokens (type 3) become special added tokens and user-defined ones (type 4) plain added tokens, so
//! `<|im_start|>` or `<start_of_turn>` in text is one id.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

mod gguf;
mod tiny;

pub use tiny::{tiny_tokenizer, TINY_CHAT_TEMPLATE};

/// Tokens that end a turn in the chat formats we know; `eos_ids` adds those the vocabulary has.
const END_OF_TURN_TOKENS: [&str; 4] =
    ["<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>"];

/// A tokenizer plus what the runtime needs around it: special ids, BOS policy, the chat template.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    source: PathBuf,
    vocab_size: usize,
    bos: Option<(u32, String)>,
    eos: Option<(u32, String)>,
    pad_id: Option<u32>,
    unk_id: Option<u32>,
    add_bos: bool,
    chat_template: Option<String>,
    eos_ids: Vec<u32>,
}

/// Special tokens named by the source, before they are resolved to ids.
#[derive(Default)]
struct Specials {
    bos: Option<u32>,
    eos: Option<u32>,
    pad: Option<u32>,
    unk: Option<u32>,
    add_bos: bool,
    chat_template: Option<String>,
}

impl Tokenizer {
    /// Loads a HF `tokenizer.json`; `tokenizer_config.json` (and `chat_template.jinja`) beside it, when
    /// present, give the special tokens, `add_bos_token` and the chat template.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::bad_input(path, format!("cannot read tokenizer file: {e}")))?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes)
            .map_err(|e| Error::bad_input(path, format!("not a valid tokenizer.json: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut config = read_json(&dir.join("tokenizer_config.json"))?.unwrap_or_default();
        // special_tokens_map.json fills in the special tokens tokenizer_config.json leaves out.
        if let (Some(base), Some(Some(map))) = (
            config.as_object_mut(),
            read_json(&dir.join("special_tokens_map.json"))?.map(|m| m.as_object().cloned()),
        ) {
            for (key, value) in map {
                base.entry(key).or_insert(value);
            }
        }
        let id_of = |key: &str| token_content(&config[key]).and_then(|t| inner.token_to_id(&t));
        let mut specials = Specials {
            bos: id_of("bos_token"),
            eos: id_of("eos_token"),
            pad: id_of("pad_token"),
            unk: id_of("unk_token"),
            add_bos: config["add_bos_token"].as_bool().unwrap_or(false),
            chat_template: chat_template_of(&config["chat_template"]),
        };
        let jinja = dir.join("chat_template.jinja");
        if specials.chat_template.is_none() && jinja.is_file() {
            let text = std::fs::read_to_string(&jinja)
                .map_err(|e| Error::bad_input(&jinja, format!("cannot read chat template: {e}")))?;
            specials.chat_template = Some(text);
        }
        Ok(Self::assemble(inner, path, specials))
    }

    fn assemble(inner: tokenizers::Tokenizer, source: &Path, s: Specials) -> Self {
        let named = |id: Option<u32>| id.and_then(|id| inner.id_to_token(id).map(|t| (id, t)));
        let (bos, eos) = (named(s.bos), named(s.eos));
        let mut eos_ids: Vec<u32> = eos.iter().map(|(id, _)| *id).collect();
        for id in END_OF_TURN_TOKENS
            .iter()
            .filter_map(|t| inner.token_to_id(t))
        {
            if !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }
        let vocab_size = inner
            .get_vocab(true)
            .values()
            .map(|&id| id as usize + 1)
            .max()
            .unwrap_or(0);
        Self {
            inner,
            source: source.to_path_buf(),
            vocab_size,
            bos,
            eos,
            pad_id: s.pad,
            unk_id: s.unk,
            add_bos: s.add_bos,
            chat_template: s.chat_template,
            eos_ids,
        }
    }

    /// Token ids of `text`. Special tokens written in the text (`<|im_start|>`) are always matched;
    /// `add_special_tokens` adds what the tokenizer adds around a sequence (BOS where `add_bos`).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode_fast(text, add_special_tokens)
            .map_err(|e| Error::internal(format!("tokenizing {:?}: {e}", preview(text))))?;
        let mut ids = encoding.get_ids().to_vec();
        if add_special_tokens && self.add_bos && self.inner.get_post_processor().is_none() {
            if let Some((bos, _)) = &self.bos {
                ids.insert(0, *bos);
            }
        }
        Ok(ids)
    }

    /// [`Tokenizer::encode`] for each text.
    pub fn encode_batch<S: AsRef<str>>(
        &self,
        texts: &[S],
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .map(|t| self.encode(t.as_ref(), add_special_tokens))
            .collect()
    }

    /// Text of `ids`; `skip_special` drops special tokens (BOS, `<|im_end|>`, ...).
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| Error::internal(format!("decoding {} ids: {e}", ids.len())))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// One more than the largest id (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos.as_ref().map(|(id, _)| *id)
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos.as_ref().map(|(id, _)| *id)
    }

    /// Ids that end generation: EOS plus the end-of-turn tokens in the vocabulary.
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_ids.clone()
    }

    pub fn pad_id(&self) -> Option<u32> {
        self.pad_id
    }

    pub fn unk_id(&self) -> Option<u32> {
        self.unk_id
    }

    pub fn bos_token(&self) -> Option<&str> {
        self.bos.as_ref().map(|(_, t)| t.as_str())
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos.as_ref().map(|(_, t)| t.as_str())
    }

    /// Whether `encode(text, true)` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos && self.bos.is_some()
    }

    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// The file this tokenizer came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// Texts both tokenizers of a base/tuned pair must split identically: words, digits, code,
/// whitespace runs, non-Latin scripts, emoji and chat markup.
const PROBE_TEXTS: [&str; 4] = [
    "Hello, world! What is 15 + 12? The answer: 27.",
    "def f(x):\n\treturn x ** 2  # squares\n\n    ",
    "Übergrößenträger, naïve café; 日本語のテキスト, русский текст 🙂",
    "<|im_start|>user\nhi<|im_end|>\n<start_of_turn>model\n<s>[INST] ok [/INST]</s>",
];

impl Tokenizer {
    /// How `other` tokenizes differently from `self`, or None when both have the same
    /// vocabulary (every token at the same id), the same BOS/EOS/pad ids, the same BOS policy,
    /// and split a few probe texts into the same ids. A tokenizer rebuilt from a GGUF file and
    /// the `tokenizer.json` of the same model agree.
    pub fn difference(&self, other: &Tokenizer) -> Option<String> {
        if self.vocab_size != other.vocab_size {
            return Some(format!(
                "{} tokens vs {}",
                self.vocab_size, other.vocab_size
            ));
        }
        let (mine, theirs) = (self.inner.get_vocab(true), other.inner.get_vocab(true));
        let mut by_id: Vec<(&String, &u32)> = mine.iter().collect();
        by_id.sort_by_key(|(_, id)| **id);
        for (token, id) in by_id {
            if theirs.get(token) != Some(id) {
                let other_token = other.inner.id_to_token(*id).unwrap_or_default();
                return Some(format!(
                    "token {id} is {token:?} in one and {other_token:?} in the other"
                ));
            }
        }
        if mine.len() != theirs.len() {
            return Some(format!(
                "{} vocabulary entries vs {}",
                mine.len(),
                theirs.len()
            ));
        }
        let specials = [
            ("BOS", self.bos_id(), other.bos_id()),
            ("EOS", self.eos_id(), other.eos_id()),
            ("pad", self.pad_id, other.pad_id),
        ];
        for (name, a, b) in specials {
            if a != b {
                return Some(format!("{name} id {a:?} vs {b:?}"));
            }
        }
        if self.add_bos() != other.add_bos() {
            return Some(format!(
                "one adds BOS to a text and the other does not (add_bos {} vs {})",
                self.add_bos(),
                other.add_bos()
            ));
        }
        for text in PROBE_TEXTS {
            let (a, b) = (self.encode(text, true).ok(), other.encode(text, true).ok());
            if a != b {
                return Some(format!("{text:?} becomes {a:?} vs {b:?}"));
            }
        }
        None
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .field("vocab_size", &self.vocab_size)
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

fn preview(text: &str) -> String {
    text.chars().take(40).collect()
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::bad_input(path, format!("cannot read: {e}")))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::bad_input(path, format!("invalid JSON: {e}")))
}

/// A special token in `tokenizer_config.json`: a string or an AddedToken object with `content`.
fn token_content(v: &serde_json::Value) -> Option<String> {
    v.as_str()
        .or_else(|| v["content"].as_str())
        .map(str::to_string)
}

/// The chat template: a string, or a list of `{name, template}` of which we take `default`.
fn chat_template_of(v: &serde_json::Value) -> Option<String> {
    if let Some(s) = v.as_str() {
        return Some(s.to_string());
    }
    let named = v.as_array()?;
    named
        .iter()
        .find(|t| t["name"] == "default")
        .and_then(|t| t["template"].as_str())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiny tokenizer with two tokens' ids swapped in its BPE vocabulary.
    fn swapped(t: &Tokenizer, a: &str, b: &str) -> Tokenizer {
        let mut json: serde_json::Value =
            serde_json::from_str(&t.inner.to_string(false).unwrap()).unwrap();
        let vocab = json["model"]["vocab"].as_object_mut().unwrap();
        let (ia, ib) = (vocab[a].clone(), vocab[b].clone());
        vocab.insert(a.into(), ib);
        vocab.insert(b.into(), ia);
        let inner = tokenizers::Tokenizer::from_bytes(json.to_string().as_bytes()).unwrap();
        Tokenizer { inner, ..t.clone() }
    }

    #[test]
    fn differences_in_vocabulary_specials_and_bos_policy_are_named() {
        let t = tiny_tokenizer().unwrap();
        assert_eq!(t.difference(&t.clone()), None);
        let d = t
            .difference(&swapped(&t, "a", "b"))
            .expect("swapped ids differ");
        assert!(d.contains("\"a\"") || d.contains("\"b\""), "{d}");
        let mut bos = t.clone();
        bos.add_bos = true;
        let d = t.difference(&bos).unwrap();
        assert!(d.contains("BOS"), "{d}");
        let mut pad = t.clone();
        pad.pad_id = Some(0);
        assert!(t.difference(&pad).unwrap().contains("pad id"));
    }
}
