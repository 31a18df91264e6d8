//! The decoder-only transformer shared by Llama, Mistral, Qwen2, Qwen3, Phi-3, OLMo-2, Gemma-2 and
//! Gemma-3: RMSNorm, RoPE, grouped-query attention, gated MLP, tied or untied unembedding. What
//! differs between them is an `arch::layout::Layout` (norm placement, q/k norms, biases, fused
//! projections, Gemma's embedding scale) and the config (sliding-window layers with their own RoPE
//! base, query scaling, attention and final-logit soft-capping).

use super::layout::{Layout, QkNorm};
use crate::attention::AttnCore;
use crate::blocks::{embed, lm_head, split_heads, unembed, AttnProj, GatedMlp};
use crate::config::{AttnKind, ModelConfig};
use crate::hooks::{at, Hooks};
use crate::layers::{softcap, KvCache, Linear, RmsNorm, Rotary};
use crate::model::Step;
use crate::weights::Weights;
use crate::Result;
use candle_core::{Module, Tensor};

pub struct Block {
    input_norm: Option<RmsNorm>,
    pub attn: AttnProj,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    /// The norm between the attention output projection and the residual add (Gemma, OLMo-2).
    pub(crate) post_attn_norm: Option<RmsNorm>,
    pre_mlp_norm: Option<RmsNorm>,
    pub mlp: GatedMlp,
    post_mlp_norm: Option<RmsNorm>,
    kind: AttnKind,
    core: AttnCore,
}

pub struct Decoder {
    pub cfg: ModelConfig,
    pub layout: Layout,
    pub embed_tokens: Tensor, // [vocab, d]
    pub blocks: Vec<Block>,
    pub(crate) norm: RmsNorm,
    pub(crate) lm_head: Linear, // [vocab, d]
}

/// The RMSNorm `{name}.weight` of size `d`; Gemma's stored w is used as 1 + w (summed once here).
fn rms(w: &Weights, name: &str, d: usize, eps: f64, gemma: bool) -> Result<RmsNorm> {
    let weight = w.get(&format!("{name}.weight"), &[d])?;
    let scale = if gemma { (weight + 1.0)? } else { weight };
    Ok(RmsNorm { scale, eps })
}

/// Applies an optional norm (identity when absent).
fn norm(n: &Option<RmsNorm>, x: &Tensor) -> candle_core::Result<Tensor> {
    match n {
        Some(n) => n.forward(x),
        None => Ok(x.clone()),
    }
}

impl Decoder {
    /// Builds the architecture `cfg.arch` (any but GPT-2) from HF-named weights.
    pub fn load(cfg: ModelConfig, w: &Weights) -> Result<Self> {
        let lay = Layout::of(cfg.arch).ok_or_else(|| {
            crate::Error::internal(format!("{} is not a decoder layout", cfg.arch.name()))
        })?;
        let (d, eps, g) = (cfg.hidden_size, cfg.norm_eps, lay.gemma);
        let embed_tokens = w.get("model.embed_tokens.weight", &[cfg.vocab_size, d])?;
        let (qn, kn) = match lay.qk_norm {
            QkNorm::None => (0, 0),
            QkNorm::PerHead => (cfg.head_dim, cfg.head_dim),
            QkNorm::AllHeads => (cfg.q_dim(), cfg.kv_dim()),
        };
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let p = format!("model.layers.{l}");
            let opt = |name: Option<&str>, n: usize| -> Result<Option<RmsNorm>> {
                name.map(|x| rms(w, &format!("{p}.{x}"), n, eps, g))
                    .transpose()
            };
            let has_qk = lay.qk_norm != QkNorm::None;
            blocks.push(Block {
                input_norm: opt(lay.input_norm, d)?,
                attn: AttnProj::load(
                    w,
                    &format!("{p}.self_attn"),
                    &cfg,
                    lay.fused_qkv,
                    lay.o_bias,
                )?,
                q_norm: opt(has_qk.then_some("self_attn.q_norm"), qn)?,
                k_norm: opt(has_qk.then_some("self_attn.k_norm"), kn)?,
                post_attn_norm: opt(lay.post_attn_norm, d)?,
                pre_mlp_norm: opt(lay.pre_mlp_norm, d)?,
                mlp: GatedMlp::load(w, &format!("{p}.mlp"), &cfg, lay.act, lay.fused_gate_up)?,
                post_mlp_norm: opt(lay.post_mlp_norm, d)?,
                kind: cfg.layer_types[l],
                core: AttnCore::for_layer(&cfg, l),
            });
        }
        let lm_head = lm_head(w, &cfg, &embed_tokens)?;
        let norm = rms(w, "model.norm", d, eps, g)?;
        Ok(Decoder {
            cfg,
            layout: lay,
            embed_tokens,
            blocks,
            norm,
            lm_head,
        })
    }

    /// Logits from final hidden states, soft-capped when the config says so (Gemma).
    pub fn unembed(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let logits = unembed(hidden, &self.lm_head)?;
        match self.cfg.final_logit_softcap {
            Some(cap) => softcap(&logits, cap),
            None => Ok(logits),
        }
    }

    /// Every linear layer by its HF module path (for LoRA and weight edits).
    pub fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = Vec::new();
        for (l, b) in self.blocks.iter_mut().enumerate() {
            let p = format!("model.layers.{l}");
            for (n, lin) in b.attn.named_mut() {
                out.push((format!("{p}.self_attn.{n}"), lin));
            }
            for (n, lin) in b.mlp.named_mut() {
                out.push((format!("{p}.mlp.{n}"), lin));
            }
        }
        out
    }

    /// `linears_mut`, read-only (same names and order).
    pub fn linears(&self) -> Vec<(String, &Linear)> {
        let mut out = Vec::new();
        for (l, b) in self.blocks.iter().enumerate() {
            let p = format!("model.layers.{l}");
            for (n, lin) in b.attn.named() {
                out.push((format!("{p}.self_attn.{n}"), lin));
            }
            for (n, lin) in b.mlp.named() {
                out.push((format!("{p}.mlp.{n}"), lin));
            }
        }
        out
    }

    /// Number of parameters, counted from the loaded tensors (tied matrices once).
    pub fn num_params(&self) -> usize {
        let n = |t: &Tensor| t.elem_count();
        let norm = |x: &Option<RmsNorm>| x.as_ref().map_or(0, |x| n(&x.scale));
        let mut total = n(&self.embed_tokens) + n(&self.norm.scale);
        if !self.cfg.tie_word_embeddings {
            total += n(&self.lm_head.weight);
        }
        for (_, lin) in self.linears() {
            total += n(&lin.weight) + lin.bias.as_ref().map_or(0, n);
        }
        for b in &self.blocks {
            total += [
                &b.input_norm,
                &b.q_norm,
                &b.k_norm,
                &b.post_attn_norm,
                &b.pre_mlp_norm,
                &b.post_mlp_norm,
            ]
            .into_iter()
            .map(norm)
            .sum::<usize>();
        }
        total
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
        let mut emb = embed(&self.embed_tokens, &s.input_ids)?;
        if self.layout.gemma {
            // HF multiplies by sqrt(d) rounded to the activation dtype.
            let scale = Tensor::new((c.hidden_size as f32).sqrt(), s.input_ids.device())?;
            emb = emb.broadcast_mul(&scale.to_dtype(emb.dtype())?)?;
        }
        let mut x = at(h, || "hook_embed".into(), emb)?;
        let (dt, dev) = (x.dtype(), x.device().clone());
        // Rotary tables and masks for the attention kinds that occur (built once per forward).
        let uses = |k: AttnKind| self.blocks.iter().any(|b| b.kind == k);
        let (mut global, mut local) = (None, None);
        if uses(AttnKind::Global) {
            let rot = Rotary::new(&s.positions, hd, c.rope_theta, dt, &dev)?;
            global = Some((rot, s.mask.build(None, dt, &dev)?));
        }
        if uses(AttnKind::Sliding) {
            let rot = Rotary::new(&s.positions, hd, c.rope_local_theta, dt, &dev)?;
            local = Some((rot, s.mask.build(c.sliding_window, dt, &dev)?));
        }
        for (l, blk) in self.blocks.iter().enumerate() {
            x = at(h, || format!("blocks.{l}.hook_resid_pre"), x)?;
            let (mut q, mut k, v) = blk.attn.project_flat(&norm(&blk.input_norm, &x)?)?;
            if self.layout.qk_norm == QkNorm::AllHeads {
                (q, k) = (norm(&blk.q_norm, &q)?, norm(&blk.k_norm, &k)?);
            }
            let (mut q, mut k, v) = split_heads((q, k, v), nh, nkv, hd)?;
            if self.layout.qk_norm == QkNorm::PerHead {
                (q, k) = (norm(&blk.q_norm, &q)?, norm(&blk.k_norm, &k)?);
            }
            let (rot, mask) = match blk.kind {
                AttnKind::Global => global.as_ref(),
                AttnKind::Sliding => local.as_ref(),
            }
            .expect("built above for every kind in use");
            let lc = cache.as_deref_mut().map(|c| &mut c.layers[l]);
            let z = blk.core.forward((q, k, v), Some(rot), mask, lc, h)?;
            let attn = norm(&blk.post_attn_norm, &blk.attn.o.forward(&z)?)?;
            let attn_out = at(h, || format!("blocks.{l}.hook_attn_out"), attn)?;
            x = at(h, || format!("blocks.{l}.hook_resid_mid"), (x + attn_out)?)?;
            let mlp = blk.mlp.forward(&norm(&blk.pre_mlp_norm, &x)?, l, h)?;
            let mlp_out = at(
                h,
                || format!("blocks.{l}.hook_mlp_out"),
                norm(&blk.post_mlp_norm, &mlp)?,
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
