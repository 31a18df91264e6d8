//! Gemma-3 text: embeddings scaled by sqrt(d), four RMSNorms per block (weights stored as w, used as
//! 1 + w), q/k RMSNorm over head_dim, interleaved sliding-window and global layers with their own
//! RoPE bases, GeGLU (tanh) MLP, query_pre_attn_scalar, optional attention and final-logit
//! soft-capping.

use crate::attention::AttnCore;
use crate::blocks::{embed, lm_head, push_linears, unembed, AttnProj, GateAct, GatedMlp};
use crate::config::{AttnKind, ModelConfig};
use crate::hooks::{at, Hooks};
use crate::layers::{softcap, KvCache, Linear, RmsNorm, Rotary};
use crate::model::Step;
use crate::weights::Weights;
use crate::Result;
use candle_core::{Module, Tensor};

pub struct Block {
    input_layernorm: RmsNorm,
    pub attn: AttnProj,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    pub(crate) post_attention_layernorm: RmsNorm,
    pre_feedforward_layernorm: RmsNorm,
    pub mlp: GatedMlp,
    post_feedforward_layernorm: RmsNorm,
    kind: AttnKind,
    core: AttnCore,
}

pub struct Gemma3 {
    pub cfg: ModelConfig,
    pub embed_tokens: Tensor, // [vocab, d]
    pub blocks: Vec<Block>,
    pub(crate) norm: RmsNorm,
    pub(crate) lm_head: Linear,
}

/// Gemma's RMSNorm multiplies by (1 + w); the sum is taken once here.
fn gemma_rms(w: &Weights, name: &str, d: usize, eps: f64) -> Result<RmsNorm> {
    let weight = w.get(&format!("{name}.weight"), &[d])?;
    Ok(RmsNorm {
        scale: (weight + 1.0)?,
        eps,
    })
}

impl Gemma3 {
    pub fn load(cfg: ModelConfig, w: &Weights) -> Result<Self> {
        let (d, eps, hd) = (cfg.hidden_size, cfg.norm_eps, cfg.head_dim);
        let embed_tokens = w.get("model.embed_tokens.weight", &[cfg.vocab_size, d])?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let p = format!("model.layers.{l}");
            let kind = cfg.layer_types[l];
            blocks.push(Block {
                input_layernorm: gemma_rms(w, &format!("{p}.input_layernorm"), d, eps)?,
                attn: AttnProj::load(w, &format!("{p}.self_attn"), &cfg)?,
                q_norm: gemma_rms(w, &format!("{p}.self_attn.q_norm"), hd, eps)?,
                k_norm: gemma_rms(w, &format!("{p}.self_attn.k_norm"), hd, eps)?,
                post_attention_layernorm: gemma_rms(
                    w,
                    &format!("{p}.post_attention_layernorm"),
                    d,
                    eps,
                )?,
                pre_feedforward_layernorm: gemma_rms(
                    w,
                    &format!("{p}.pre_feedforward_layernorm"),
                    d,
                    eps,
                )?,
                mlp: GatedMlp::load(w, &format!("{p}.mlp"), &cfg, GateAct::GeluTanh)?,
                post_feedforward_layernorm: gemma_rms(
                    w,
                    &format!("{p}.post_feedforward_layernorm"),
                    d,
                    eps,
                )?,
                kind,
                core: AttnCore::for_layer(&cfg, l),
            });
        }
        let lm_head = lm_head(w, &cfg, &embed_tokens)?;
        let norm = gemma_rms(w, "model.norm", d, eps)?;
        Ok(Gemma3 {
            cfg,
            embed_tokens,
            blocks,
            norm,
            lm_head,
        })
    }

    /// Every linear layer by its HF module path (for LoRA and weight edits).
    pub fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = Vec::new();
        for (l, b) in self.blocks.iter_mut().enumerate() {
            push_linears(
                &mut out,
                &format!("model.layers.{l}"),
                &mut b.attn,
                &mut b.mlp,
            );
        }
        out
    }

    pub fn unembed(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let logits = unembed(hidden, &self.lm_head)?;
        match self.cfg.final_logit_softcap {
            Some(cap) => softcap(&logits, cap),
            None => Ok(logits),
        }
    }

    pub fn forward(
        &self,
        s: &Step,
        mut cache: Option<&mut KvCache>,
        mut hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<Tensor> {
        let h = &mut hooks;
        let c = &self.cfg;
        let (nh, nkv, hd) = (c.num_heads, c.num_kv_heads, c.head_dim);
        // HF multiplies by sqrt(d) rounded to the activation dtype.
        let scale = Tensor::new((c.hidden_size as f32).sqrt(), s.input_ids.device())?;
        let emb = embed(&self.embed_tokens, &s.input_ids)?;
        let emb = emb.broadcast_mul(&scale.to_dtype(emb.dtype())?)?;
        let mut x = at(h, || "hook_embed".into(), emb)?;
        let (dt, dev) = (x.dtype(), x.device().clone());
        let rot_global = Rotary::new(&s.positions, hd, c.rope_theta, dt, &dev)?;
        let rot_local = Rotary::new(&s.positions, hd, c.rope_local_theta, dt, &dev)?;
        let mask_global = s.mask.build(None, dt, &dev)?;
        let mask_local = s.mask.build(c.sliding_window, dt, &dev)?;
        for (l, blk) in self.blocks.iter().enumerate() {
            x = at(h, || format!("blocks.{l}.hook_resid_pre"), x)?;
            let (q, k, v) = blk
                .attn
                .project(&blk.input_layernorm.forward(&x)?, nh, nkv, hd)?;
            let (q, k) = (blk.q_norm.forward(&q)?, blk.k_norm.forward(&k)?);
            let (rot, mask) = match blk.kind {
                AttnKind::Global => (&rot_global, &mask_global),
                AttnKind::Sliding => (&rot_local, &mask_local),
            };
            let lc = cache.as_deref_mut().map(|c| &mut c.layers[l]);
            let z = blk.core.forward((q, k, v), Some(rot), mask, lc, h)?;
            let attn = blk
                .post_attention_layernorm
                .forward(&blk.attn.o.forward(&z)?)?;
            let attn_out = at(h, || format!("blocks.{l}.hook_attn_out"), attn)?;
            x = at(h, || format!("blocks.{l}.hook_resid_mid"), (x + attn_out)?)?;
            let mlp = blk
                .mlp
                .forward(&blk.pre_feedforward_layernorm.forward(&x)?, l, h)?;
            let mlp_out = at(
                h,
                || format!("blocks.{l}.hook_mlp_out"),
                blk.post_feedforward_layernorm.forward(&mlp)?,
            )?;
            x = at(h, || format!("blocks.{l}.hook_resid_post"), (x + mlp_out)?)?;
        }
        at(
            h,
            || "ln_final.hook_normalized".into(),
            self.norm.forward(&x)?,
        )
    }
}
