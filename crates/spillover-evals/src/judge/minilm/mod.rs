//! all-MiniLM-L6-v2 on candle: WordPiece tokenizer (from `tokenizer.json`), the [`bert::Bert`]
//! encoder, mean pooling over the attention mask and L2 normalisation — the sentence-transformers
//! recipe, checked against reference embeddings from HF transformers.

pub mod bert;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::Tokenizer;

use super::{Error, Result};
use bert::{mean_pool_normalize, Bert, BertConfig};

/// Registry id of the packaged model (see `docs/assets.md`).
pub const ASSET_ID: &str = "all-minilm-l6-v2";

/// sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2: longer texts are truncated.
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// Texts embedded together; sorted by length first so padding stays small.
const BATCH: usize = 16;

/// The sentence embedder.
pub struct MiniLm {
    tokenizer: Tokenizer,
    model: Bert,
    device: Device,
    hidden: usize,
    max_positions: usize,
}

impl MiniLm {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<MiniLm> {
        Self::load_with(dir, device, true)
    }

    /// [`MiniLm::load`] with every linear layer on candle's matmul (the reference the packed
    /// product is checked and timed against).
    pub fn load_with_candle_matmul(dir: &Path, device: &Device) -> Result<MiniLm> {
        Self::load_with(dir, device, false)
    }

    fn load_with(dir: &Path, device: &Device, pack: bool) -> Result<MiniLm> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
        let cfg: BertConfig = serde_json::from_str(&text).map_err(|e| bad(&cfg_path, e))?;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| bad(&tok_path, e))?;
        // Padding and truncation are done here, per batch (the file pads everything to 128).
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| bad(&tok_path, e))?;
        let w_path = dir.join("model.safetensors");
        let tensors =
            candle_core::safetensors::load(&w_path, device).map_err(|e| bad(&w_path, e))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let model = Bert::load(&cfg, vb, pack).map_err(|e| bad(&w_path, e))?;
        Ok(MiniLm {
            tokenizer,
            model,
            device: device.clone(),
            hidden: cfg.hidden_size,
            max_positions: cfg.max_position_embeddings,
        })
    }

    /// Embedding width (384).
    pub fn dim(&self) -> usize {
        self.hidden
    }

    /// `[CLS] wordpieces [SEP]`, cut to at most `max_tokens` ids (the last one stays `[SEP]`).
    pub fn tokenize(&self, text: &str, max_tokens: usize) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::BadArgument(format!("cannot tokenize text: {e}")))?;
        let mut ids = enc.get_ids().to_vec();
        let max = max_tokens.clamp(2, self.max_positions);
        if ids.len() > max {
            let sep = *ids.last().expect("non-empty");
            ids.truncate(max - 1);
            ids.push(sep);
        }
        Ok(ids)
    }

    /// Embeds token-id sequences as one right-padded batch: one unit vector per sequence.
    pub fn embed_ids(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let t = batch.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(batch.len() * t);
        let mut mask = Vec::with_capacity(batch.len() * t);
        for seq in batch {
            ids.extend(seq.iter().copied().chain(std::iter::repeat(0)).take(t));
            mask.extend((0..t).map(|i| if i < seq.len() { 1f32 } else { 0.0 }));
        }
        let ids = Tensor::from_vec(ids, (batch.len(), t), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch.len(), t), &self.device)?;
        let hidden = self.model.forward(&ids, &mask)?; // (B, T, H)
        Ok(mean_pool_normalize(&hidden, &mask)?.to_vec2::<f32>()?)
    }

    /// Embeds texts (each truncated to `max_tokens`), in batches of similar length.
    pub fn embed(&self, texts: &[&str], max_tokens: usize) -> Result<Vec<Vec<f32>>> {
        let ids = texts
            .iter()
            .map(|t| self.tokenize(t, max_tokens))
            .collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| (ids[i].len(), i));
        let mut out = vec![Vec::new(); ids.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
            for (&i, e) in chunk.iter().zip(self.embed_ids(&batch)?) {
                out[i] = e;
            }
        }
        Ok(out)
    }
}

fn bad(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::BadModel {
        path: PathBuf::from(path),
        msg: e.to_string(),
    }
}
