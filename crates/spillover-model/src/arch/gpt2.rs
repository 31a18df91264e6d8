//! GPT-2: learned positions, pre-LayerNorm blocks, fused c_attn, gelu_new MLP, tied unembedding.
//! HF stores GPT-2's projections as Conv1D ([in, out]); they are transposed to [out, in] at load.

use crate::attention::AttnCore;
use crate::blocks::{embed, lm_head, unembed};
use crate::config::ModelConfig;
use crate::hooks::{at, Hooks};
use crate::layers::{gelu_tanh, KvCache, LayerNorm, Linear};
use crate::model::Step;
use crate::weights::Weights;
use crate::Result;
use candle_core::{Module, Tensor};

pub(crate) struct Block {
    ln_1: LayerNorm,
    pub(crate) c_attn: Linear, // d → 3d (q | k | v)
    pub(crate) c_proj: Linear, // d → d
    ln_2: LayerNorm,
    pub(crate) c_fc: Linear,     // d → d_mlp
    pub(crate) mlp_proj: Linear, // d_mlp → d
    core: AttnCore,
}

pub struct Gpt2 {
    pub cfg: ModelConfig,
    pub wte: Tensor, // [vocab, d]
    pub wpe: Tensor, // [positions, d]
    pub(crate) blocks: Vec<Block>,
    pub(crate) ln_f: LayerNorm,
    pub(crate) lm_head: Linear, // [vocab, d]
}

fn layer_norm(w: &Weights, name: &str, d: usize, eps: f64) -> Result<LayerNorm> {
    Ok(LayerNorm {
        weight: w.get(&format!("{name}.weight"), &[d])?,
        bias: w.get(&format!("{name}.bias"), &[d])?,
        eps,
    })
}

/// A Conv1D weight [in, out] as a Linear [out, in].
fn conv1d(w: &Weights, name: &str, inp: usize, out: usize) -> Result<Linear> {
    let weight = w
        .get(&format!("{name}.weight"), &[inp, out])?
        .t()?
        .contiguous()?;
    Ok(Linear::new(
        weight,
        Some(w.get(&format!("{name}.bias"), &[out])?),
    ))
}

/// HF checkpoints name GPT-2 tensors with or without the `transformer.` prefix.
fn prefix(w: &Weights) -> &'static str {
    if w.contains("transformer.wte.weight") {
        "transformer."
    } else {
        ""
    }
}

impl Gpt2 {
    pub fn load(cfg: ModelConfig, w: &Weights) -> Result<Self> {
        let p = prefix(w);
        let (d, m, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.norm_eps);
        let wte = w.get(&format!("{p}wte.weight"), &[cfg.vocab_size, d])?;
        let wpe = w.get(&format!("{p}wpe.weight"), &[cfg.max_positions, d])?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for l in 0..cfg.num_layers {
            let b = format!("{p}h.{l}");
            blocks.push(Block {
                ln_1: layer_norm(w, &format!("{b}.ln_1"), d, eps)?,
                c_attn: conv1d(w, &format!("{b}.attn.c_attn"), d, 3 * d)?,
                c_proj: conv1d(w, &format!("{b}.attn.c_proj"), d, d)?,
                ln_2: layer_norm(w, &format!("{b}.ln_2"), d, eps)?,
                c_fc: conv1d(w, &format!("{b}.mlp.c_fc"), d, m)?,
                mlp_proj: conv1d(w, &format!("{b}.mlp.c_proj"), m, d)?,
                core: AttnCore::for_layer(&cfg, l),
            });
        }
        let lm_head = lm_head(w, &cfg, &wte)?;
        let ln_f = layer_norm(w, &format!("{p}ln_f"), d, eps)?;
        Ok(Gpt2 {
            cfg,
            wte,
            wpe,
            blocks,
            ln_f,
            lm_head,
        })
    }

    /// Number of parameters, counted from the loaded tensors (the tied unembedding once).
    pub fn num_params(&self) -> usize {
        let n = |t: &Tensor| t.elem_count();
        let ln = |x: &LayerNorm| n(&x.weight) + n(&x.bias);
        let lin = |x: &Linear| n(&x.weight) + x.bias.as_ref().map_or(0, n);
        let mut total = n(&self.wte) + n(&self.wpe) + ln(&self.ln_f);
        if !self.cfg.tie_word_embeddings {
            total += n(&self.lm_head.weight);
        }
        for b in &self.blocks {
            total += ln(&b.ln_1) + ln(&b.ln_2);
            total += [&b.c_attn, &b.c_proj, &b.c_fc, &b.mlp_proj]
                .into_iter()
                .map(lin)
                .sum::<usize>();
        }
        total
    }

    /// Every linear layer by its HF module path (Conv1D modules in HF, stored here as [out, in]).
    pub fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = Vec::new();
        for (l, b) in self.blocks.iter_mut().enumerate() {
            let p = format!("transformer.h.{l}");
            out.push((format!("{p}.attn.c_attn"), &mut b.c_attn));
            out.push((format!("{p}.attn.c_proj"), &mut b.c_proj));
            out.push((format!("{p}.mlp.c_fc"), &mut b.c_fc));
            out.push((format!("{p}.mlp.c_proj"), &mut b.mlp_proj));
        }
        out
    }

    pub fn unembed(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        unembed(hidden, &self.lm_head)
    }

    pub fn forward(
        &self,
        s: &Step,
        mut cache: Option<&mut KvCache>,
        mut hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<Tensor> {
        let h = &mut hooks;
        let (b, t) = s.input_ids.dims2()?;
        let (nh, hd) = (self.cfg.num_heads, self.cfg.head_dim);
        let tok = at(h, || "hook_embed".into(), embed(&self.wte, &s.input_ids)?)?;
        let pos = at(
            h,
            || "hook_pos_embed".into(),
            embed(&self.wpe, &s.position_tensor()?)?,
        )?;
        let mut x = (tok + pos)?;
        let mask = s.mask.build(None, x.dtype(), x.device())?;
        for (l, blk) in self.blocks.iter().enumerate() {
            x = at(h, || format!("blocks.{l}.hook_resid_pre"), x)?;
            let qkv = blk.c_attn.forward(&blk.ln_1.forward(&x)?)?; // (b, t, 3d)
            let d = nh * hd;
            let q = qkv.narrow(2, 0, d)?.reshape((b, t, nh, hd))?;
            let k = qkv.narrow(2, d, d)?.reshape((b, t, nh, hd))?;
            let v = qkv.narrow(2, 2 * d, d)?.reshape((b, t, nh, hd))?;
            let lc = cache.as_deref_mut().map(|c| &mut c.layers[l]);
            let z = blk.core.forward((q, k, v), None, &mask, lc, h)?;
            let attn_out = at(
                h,
                || format!("blocks.{l}.hook_attn_out"),
                blk.c_proj.forward(&z)?,
            )?;
            x = at(h, || format!("blocks.{l}.hook_resid_mid"), (x + attn_out)?)?;
            let pre = at(
                h,
                || format!("blocks.{l}.mlp.hook_pre"),
                blk.c_fc.forward(&blk.ln_2.forward(&x)?)?,
            )?;
            let post = at(h, || format!("blocks.{l}.mlp.hook_post"), gelu_tanh(&pre)?)?;
            let mlp_out = at(
                h,
                || format!("blocks.{l}.hook_mlp_out"),
                blk.mlp_proj.forward(&post)?,
            )?;
            x = at(h, || format!("blocks.{l}.hook_resid_post"), (x + mlp_out)?)?;
        }
        at(
            h,
            || "ln_final.hook_normalized".into(),
            self.ln_f.forward(&x)?,
        )
    }
}
