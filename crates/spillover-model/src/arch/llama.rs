//! Llama family (SmolLM2, TinyLlama, Llama-3 style): RMSNorm, RoPE, grouped-query attention,
//! SwiGLU MLP, tied or untied unembedding.

use crate::attention::AttnCore;
use crate::blocks::{embed, lm_head, push_linears, unembed, AttnProj, GateAct, GatedMlp};
use crate::config::ModelConfig;
use crate::hooks::{at, Hooks};
use crate::layers::{KvCache, Linear, RmsNorm, Rotary};
use crate::model::Step;
use crate::weights::Weights;
use crate::Result;
use candle_core::{Module, Tensor};

pub struct Block {
    input_layernorm: RmsNorm,
    pub attn: AttnProj,
    post_attention_layernorm: RmsNorm,
    pub mlp: GatedMlp,
    core: AttnCore,
}

pub struct Llama {
    pub cfg: ModelConfig,
    pub embed_tokens: Tensor, // [vocab, d]
    pub blocks: Vec<Block>,
    pub(crate) norm: RmsNorm,
    pub(crate) lm_head: Linear, // [vocab, d]
}

pub(crate) fn rms(w: &Weights, name: &str, d: usize, eps: f64) -> Result<RmsNorm> {
    Ok(RmsNorm {
        scale: w.get(&format!("{name}.weight"), &[d])?,
        eps,
    })
}

impl Llama {
    pub fn load(cfg: ModelConfig, w: &Weights) -> Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.norm_eps);
        let embed_tokens = w.get("model.embed_tokens.weight", &[cfg.vocab_size, d])?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let p = format!("model.layers.{l}");
            blocks.push(Block {
                input_layernorm: rms(w, &format!("{p}.input_layernorm"), d, eps)?,
                attn: AttnProj::load(w, &format!("{p}.self_attn"), &cfg)?,
                post_attention_layernorm: rms(w, &format!("{p}.post_attention_layernorm"), d, eps)?,
                mlp: GatedMlp::load(w, &format!("{p}.mlp"), &cfg, GateAct::Silu)?,
                core: AttnCore::for_layer(&cfg, l),
            });
        }
        let lm_head = lm_head(w, &cfg, &embed_tokens)?;
        let norm = rms(w, "model.norm", d, eps)?;
        Ok(Llama {
            cfg,
            embed_tokens,
            blocks,
            norm,
            lm_head,
        })
    }

    pub fn unembed(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        unembed(hidden, &self.lm_head)
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

    pub fn forward(
        &self,
        s: &Step,
        mut cache: Option<&mut KvCache>,
        mut hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<Tensor> {
        let h = &mut hooks;
        let c = &self.cfg;
        let mut x = at(
            h,
            || "hook_embed".into(),
            embed(&self.embed_tokens, &s.input_ids)?,
        )?;
        let dev = x.device().clone();
        let rotary = Rotary::new(&s.positions, c.head_dim, c.rope_theta, x.dtype(), &dev)?;
        let mask = s.mask.build(None, x.dtype(), &dev)?;
        for (l, blk) in self.blocks.iter().enumerate() {
            x = at(h, || format!("blocks.{l}.hook_resid_pre"), x)?;
            let (q, k, v) = blk.attn.project(
                &blk.input_layernorm.forward(&x)?,
                c.num_heads,
                c.num_kv_heads,
                c.head_dim,
            )?;
            let lc = cache.as_deref_mut().map(|c| &mut c.layers[l]);
            let z = blk.core.forward((q, k, v), Some(&rotary), &mask, lc, h)?;
            let attn_out = at(
                h,
                || format!("blocks.{l}.hook_attn_out"),
                blk.attn.o.forward(&z)?,
            )?;
            x = at(h, || format!("blocks.{l}.hook_resid_mid"), (x + attn_out)?)?;
            let mlp_out = blk
                .mlp
                .forward(&blk.post_attention_layernorm.forward(&x)?, l, h)?;
            let mlp_out = at(h, || format!("blocks.{l}.hook_mlp_out"), mlp_out)?;
            x = at(h, || format!("blocks.{l}.hook_resid_post"), (x + mlp_out)?)?;
        }
        at(
            h,
            || "ln_final.hook_normalized".into(),
            self.norm.forward(&x)?,
        )
    }
}
