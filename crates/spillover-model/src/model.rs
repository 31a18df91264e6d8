//! The model as the rest of Spillover sees it: one enum over the architectures with a forward pass
//! from token ids to final hidden states and logits, and the `Step` that describes one forward call.

use crate::arch::{decoder::Decoder, gpt2::Gpt2};
use crate::config::{Arch, ModelConfig};
use crate::hooks::Hooks;
use crate::layers::{Branches, KvCache, LayerNorm, Linear, MaskSpec, RmsNorm};
use crate::weights::Weights;
use crate::Result;
use candle_core::{Device, Tensor};

/// One forward call: the new tokens, their absolute positions, and which keys (cached + new) are real.
pub struct Step {
    /// [b, t] u32
    pub input_ids: Tensor,
    /// [b][t] absolute positions of the new tokens (left padding does not count).
    pub positions: Vec<Vec<u32>>,
    pub mask: MaskSpec,
}

impl Step {
    /// A left-padded batch of whole sequences with no KV cache: positions count real tokens only,
    /// so each row gives the same result as the sequence on its own.
    pub fn left_padded(seqs: &[Vec<u32>], pad_id: u32, device: &Device) -> Result<Step> {
        Self::left_padded_after(seqs, 0, pad_id, device)
    }

    /// Left-padded continuations of `past` cached positions that are real in every row (a prompt
    /// prefix shared by the whole batch, computed once): row i's keys are the `past` cached ones,
    /// its padding, then `seqs[i]` at positions `past..past + len`. So each row gives the same
    /// result as prefix + `seqs[i]` on its own; the padding sits between the two and is never
    /// attended to.
    pub fn left_padded_after(
        seqs: &[Vec<u32>],
        past: usize,
        pad_id: u32,
        device: &Device,
    ) -> Result<Step> {
        let t = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(seqs.len() * t);
        let mut positions = Vec::with_capacity(seqs.len());
        let mut valid = Vec::with_capacity(seqs.len());
        for s in seqs {
            let pad = t - s.len();
            ids.extend(std::iter::repeat_n(pad_id, pad));
            ids.extend_from_slice(s);
            positions.push(
                (0..t)
                    .map(|i| (past + i.saturating_sub(pad)) as u32)
                    .collect(),
            );
            valid.push((0..past + t).map(|k| k < past || k >= past + pad).collect());
        }
        let input_ids = Tensor::from_vec(ids, (seqs.len(), t), device)?;
        Ok(Step {
            input_ids,
            positions,
            mask: MaskSpec {
                key_valid: valid,
                past,
                t,
                branches: None,
            },
        })
    }

    /// Rows that each hold several whole sequences one after the other (training's packing), with no
    /// KV cache: every sequence's positions start at 0 and it attends to its own tokens only, so it
    /// gives the same result as on its own, sliding windows included. This is the prefix-tree mask
    /// of [`Branches`] with no trunk: sequence j of a row is branch j + 1, its keys' positions are
    /// its own. Rows are right-padded with `pad_id` to the longest; padding (branch 0, invalid) is
    /// never attended to.
    pub fn packed(rows: &[Vec<&[u32]>], pad_id: u32, device: &Device) -> Result<Step> {
        let t = rows
            .iter()
            .map(|r| r.iter().map(|s| s.len()).sum::<usize>())
            .max()
            .unwrap_or(0);
        let n = rows.len();
        let mut ids = Vec::with_capacity(n * t);
        let (mut positions, mut valid, mut branch) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for row in rows {
            let (mut pos, mut id) = (Vec::with_capacity(t), Vec::with_capacity(t));
            for (j, s) in row.iter().enumerate() {
                ids.extend_from_slice(s);
                pos.extend(0..s.len() as u32);
                id.extend(std::iter::repeat_n(j as u32 + 1, s.len()));
            }
            let real = pos.len();
            ids.extend(std::iter::repeat_n(pad_id, t - real));
            pos.resize(t, 0);
            id.resize(t, 0);
            valid.push((0..t).map(|k| k < real).collect());
            positions.push(pos);
            branch.push(id);
        }
        Ok(Step {
            input_ids: Tensor::from_vec(ids, (n, t), device)?,
            mask: MaskSpec {
                key_valid: valid,
                past: 0,
                t,
                branches: Some(Branches {
                    id: branch,
                    pos: positions.clone(),
                }),
            },
            positions,
        })
    }

    /// Like `left_padded` but with positions 0..t for every row, padding included — what HF's plain
    /// `model(input_ids, attention_mask)` does when no position_ids are given.
    pub fn left_padded_absolute(seqs: &[Vec<u32>], pad_id: u32, device: &Device) -> Result<Step> {
        let mut s = Self::left_padded(seqs, pad_id, device)?;
        let t = s.mask.t as u32;
        for p in &mut s.positions {
            *p = (0..t).collect();
        }
        Ok(s)
    }

    /// The positions as a [b, t] u32 tensor.
    pub fn position_tensor(&self) -> candle_core::Result<Tensor> {
        let b = self.positions.len();
        let t = self.mask.t;
        let flat: Vec<u32> = self.positions.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (b, t), self.input_ids.device())
    }
}

/// The normalization applied to the last residual stream before the unembedding.
pub enum FinalNorm<'a> {
    /// GPT-2: (x − mean) / sqrt(var + eps) · weight + bias.
    Layer(&'a LayerNorm),
    /// Every other architecture: x / sqrt(mean(x²) + eps) · scale (Gemma's 1 + w already folded in).
    Rms(&'a RmsNorm),
}

pub enum Model {
    Gpt2(Gpt2),
    /// Llama, Mistral, Qwen2, Qwen3, Phi-3, OLMo-2, Gemma-2, Gemma-3 (`config().arch` says which).
    Decoder(Decoder),
}

impl Model {
    /// Builds the architecture named by `cfg` from `weights`.
    pub fn from_weights(cfg: ModelConfig, weights: &Weights) -> Result<Model> {
        Ok(match cfg.arch {
            Arch::Gpt2 => Model::Gpt2(Gpt2::load(cfg, weights)?),
            _ => Model::Decoder(Decoder::load(cfg, weights)?),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        match self {
            Model::Gpt2(m) => &m.cfg,
            Model::Decoder(m) => &m.cfg,
        }
    }

    pub fn device(&self) -> &Device {
        match self {
            Model::Gpt2(m) => m.wte.device(),
            Model::Decoder(m) => m.embed_tokens.device(),
        }
    }

    /// Every linear layer by its HF module path (`model.layers.3.self_attn.q_proj`, ...).
    pub fn linears_mut(&mut self) -> Vec<(String, &mut crate::linear::Linear)> {
        match self {
            Model::Gpt2(m) => m.linears_mut(),
            Model::Decoder(m) => m.linears_mut(),
        }
    }

    /// Prepares every linear layer for inference:
    ///
    /// - stores its weight W [out, in] column-major (as a transposed view of a contiguous
    ///   [in, out] copy): same shape and values, but `x Wᵀ` then reads a row-major right-hand
    ///   side, which candle's CPU matmul runs 1.3–3× faster for the few-row products of decoding;
    /// - on a CPU with AVX-512, for f32 weights, also builds the prepacked copy that
    ///   `Linear::forward` then uses (`crate::packed`; up to `linear::PACKED_MAX_ROWS` rows). It
    ///   takes as much memory again as the linear weights (≈ 425 MB for SmolLM2-135M);
    /// - packs the unembedding the same way (its weight keeps its layout: when tied it is also the
    ///   token embedding); another 113 MB for SmolLM2-135M.
    ///
    /// Meant for inference after loading; merging a LoRA adapter or editing a weight afterwards
    /// makes a new weight tensor, which `forward` runs with candle's matmul (the stale pack is
    /// never used) until this is called again. Training code need not call it.
    pub fn use_inference_layout(&mut self) -> candle_core::Result<()> {
        for (_, lin) in self.linears_mut() {
            lin.weight = lin.weight.t()?.contiguous()?.t()?;
            lin.pack()?;
        }
        match self {
            Model::Gpt2(m) => m.lm_head.pack()?,
            Model::Decoder(m) => m.lm_head.pack()?,
        };
        Ok(())
    }

    /// A KV cache sized for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.config().num_layers)
    }

    /// Final normalized hidden states [b, t, d] (`ln_final.hook_normalized`).
    pub fn forward_hidden(
        &self,
        step: &Step,
        cache: Option<&mut KvCache>,
        hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<Tensor> {
        match self {
            Model::Gpt2(m) => m.forward(step, cache, hooks),
            Model::Decoder(m) => m.forward(step, cache, hooks),
        }
    }

    /// Logits [b, t, vocab] from final hidden states [b, t, d].
    pub fn unembed(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Model::Gpt2(m) => m.unembed(hidden),
            Model::Decoder(m) => m.unembed(hidden),
        }
    }

    /// Logits [b, t, vocab] for every position.
    pub fn forward(
        &self,
        step: &Step,
        cache: Option<&mut KvCache>,
        hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<Tensor> {
        let h = self.forward_hidden(step, cache, hooks)?;
        self.unembed(&h)
    }

    /// Logits [b, vocab] of the last position only (what generation needs; skips the other rows of
    /// the unembedding).
    pub fn forward_last(
        &self,
        step: &Step,
        cache: Option<&mut KvCache>,
        hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<Tensor> {
        let h = self.forward_hidden(step, cache, hooks)?;
        let t = h.dims()[1];
        let last = h.narrow(1, t - 1, 1)?;
        self.unembed(&last)?.squeeze(1)
    }

    /// Number of parameters, summed over the loaded tensors (tied matrices counted once; LoRA
    /// adapters are not the model's own and are not counted).
    pub fn num_params(&self) -> usize {
        match self {
            Model::Gpt2(m) => m.num_params(),
            Model::Decoder(m) => m.num_params(),
        }
    }

    /// Every linear layer by its HF module path, read-only (same names and order as `linears_mut`).
    pub fn linears(&self) -> Vec<(String, &Linear)> {
        match self {
            Model::Gpt2(m) => {
                let mut out = Vec::new();
                for (l, b) in m.blocks.iter().enumerate() {
                    let p = format!("transformer.h.{l}");
                    out.push((format!("{p}.attn.c_attn"), &b.c_attn));
                    out.push((format!("{p}.attn.c_proj"), &b.c_proj));
                    out.push((format!("{p}.mlp.c_fc"), &b.c_fc));
                    out.push((format!("{p}.mlp.c_proj"), &b.mlp_proj));
                }
                out
            }
            Model::Decoder(m) => m.linears(),
        }
    }

    /// The attention output projection of `layer` (`o_proj`, GPT-2 `attn.c_proj`): [d, heads · head_dim].
    pub fn attn_output(&self, layer: usize) -> Option<&Linear> {
        match self {
            Model::Gpt2(m) => m.blocks.get(layer).map(|b| &b.c_proj),
            Model::Decoder(m) => m.blocks.get(layer).map(|b| &b.attn.o),
        }
    }

    /// The RMSNorm between the attention output projection of `layer` and the residual add
    /// (Gemma-2/3 and OLMo-2 `post_attention_layernorm`); `None` for the other architectures.
    pub fn post_attention_norm(&self, layer: usize) -> Option<&RmsNorm> {
        match self {
            Model::Decoder(m) => m.blocks.get(layer)?.post_attn_norm.as_ref(),
            Model::Gpt2(_) => None,
        }
    }

    /// Whether the attention and MLP outputs pass through a norm before the residual add
    /// (Gemma-2/3, OLMo-2), so that what o_proj / down_proj write is not what reaches the stream.
    pub fn has_post_norms(&self) -> bool {
        self.post_attention_norm(0).is_some()
    }

    /// The unembedding matrix [vocab, d] (the token embedding when tied); Gemma's final-logit
    /// soft-cap, when configured, is applied after it by `unembed`.
    pub fn unembedding(&self) -> &Tensor {
        match self {
            Model::Gpt2(m) => &m.lm_head.weight,
            Model::Decoder(m) => &m.lm_head.weight,
        }
    }

    /// The final normalization (`ln_final`), for analyses that apply it by hand (direct logit
    /// attribution, logit lens).
    pub fn final_norm(&self) -> FinalNorm<'_> {
        match self {
            Model::Gpt2(m) => FinalNorm::Layer(&m.ln_f),
            Model::Decoder(m) => FinalNorm::Rms(&m.norm),
        }
    }
}
