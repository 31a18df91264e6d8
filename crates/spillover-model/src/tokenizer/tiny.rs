//! The tokenizer of the tiny random models: one token per byte (GPT-2's byte-level spelling, no
//! merges) plus a few special tokens, with a ChatML chat template, so `generate --chat` works on them.

use super::gguf::{TYPE_CONTROL, TYPE_NORMAL};
use super::Tokenizer;
use crate::Result;
use candle_core::quantized::gguf_file::Value;
use std::collections::HashMap;
use std::path::Path;

/// Special tokens after the 256 byte tokens, in id order (pad 256, bos 257, eos 258, ...).
const SPECIALS: [&str; 8] = [
    "<|pad|>",
    "<|bos|>",
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|reserved_0|>",
    "<|reserved_1|>",
    "<|reserved_2|>",
];

/// ChatML, as SmolLM2 and many small chat models use it.
pub const TINY_CHAT_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// The 264-token byte-level tokenizer of `tiny-*` models.
pub fn tiny_tokenizer() -> Result<Tokenizer> {
    let table = super::gguf::bytes_to_unicode();
    let mut tokens: Vec<Value> = table.iter().map(|c| Value::String(c.to_string())).collect();
    let mut types = vec![Value::I32(TYPE_NORMAL as i32); 256];
    for s in SPECIALS {
        tokens.push(Value::String(s.to_string()));
        types.push(Value::I32(TYPE_CONTROL as i32));
    }
    let md: HashMap<String, Value> = [
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("default".into())),
        ("tokenizer.ggml.tokens", Value::Array(tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.merges", Value::Array(vec![])),
        ("tokenizer.ggml.padding_token_id", Value::U32(256)),
        ("tokenizer.ggml.bos_token_id", Value::U32(257)),
        ("tokenizer.ggml.eos_token_id", Value::U32(258)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
        (
            "tokenizer.chat_template",
            Value::String(TINY_CHAT_TEMPLATE.into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Tokenizer::from_gguf_metadata(Path::new("tiny tokenizer"), &md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_is_one_token_and_text_round_trips() {
        let tok = tiny_tokenizer().unwrap();
        assert_eq!(tok.vocab_size(), 264);
        let text = "Hé 15 + 12 = 27\n<|im_end|>";
        let ids = tok.encode(text, false).unwrap();
        assert_eq!(ids.len(), "Hé 15 + 12 = 27\n".len() + 1, "{ids:?}");
        assert_eq!(*ids.last().unwrap(), 260);
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
        assert_eq!(tok.eos_ids(), vec![258, 260]);
    }
}
