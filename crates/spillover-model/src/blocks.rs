//! Pieces that two or more architectures share: loading a linear layer by HF name, the
//! q/k/v/o projections of Llama-style attention, and the gated MLP.

use crate::hooks::{at, Hooks};
use crate::layers::{gelu_tanh, Linear};
use crate::weights::Weights;
use crate::{ModelConfig, Result};
use candle_core::{Module, Tensor};

/// Loads `{name}.weight` ([out, in]) and, when `bias`, `{name}.bias`.
pub fn linear(w: &Weights, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
    let weight = w.get(&format!("{name}.weight"), &[out, inp])?;
    let b = if bias {
        Some(w.get(&format!("{name}.bias"), &[out])?)
    } else {
        None
    };
    Ok(Linear::new(weight, b))
}

/// q/k/v/o projections of Llama-style attention.
pub struct AttnProj {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
}

impl AttnProj {
    pub fn load(w: &Weights, prefix: &str, cfg: &ModelConfig) -> Result<Self> {
        let (d, q_dim, kv_dim, bias) = (
            cfg.hidden_size,
            cfg.q_dim(),
            cfg.kv_dim(),
            cfg.attention_bias,
        );
        Ok(AttnProj {
            q: linear(w, &format!("{prefix}.q_proj"), q_dim, d, bias)?,
            k: linear(w, &format!("{prefix}.k_proj"), kv_dim, d, bias)?,
            v: linear(w, &format!("{prefix}.v_proj"), kv_dim, d, bias)?,
            o: linear(w, &format!("{prefix}.o_proj"), d, q_dim, bias)?,
        })
    }

    /// x: [b, t, d] → (q [b, t, h, hd], k [b, t, kv_h, hd], v [b, t, kv_h, hd])
    pub fn project(
        &self,
        x: &Tensor,
        heads: usize,
        kv_heads: usize,
        hd: usize,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let q = self.q.forward(x)?.reshape((b, t, heads, hd))?;
        let k = self.k.forward(x)?.reshape((b, t, kv_heads, hd))?;
        let v = self.v.forward(x)?.reshape((b, t, kv_heads, hd))?;
        Ok((q, k, v))
    }
}

/// Appends the seven linear layers of a Llama-style block under their HF module paths.
pub fn push_linears<'a>(
    out: &mut Vec<(String, &'a mut Linear)>,
    p: &str,
    attn: &'a mut AttnProj,
    mlp: &'a mut GatedMlp,
) {
    out.push((format!("{p}.self_attn.q_proj"), &mut attn.q));
    out.push((format!("{p}.self_attn.k_proj"), &mut attn.k));
    out.push((format!("{p}.self_attn.v_proj"), &mut attn.v));
    out.push((format!("{p}.self_attn.o_proj"), &mut attn.o));
    out.push((format!("{p}.mlp.gate_proj"), &mut mlp.gate));
    out.push((format!("{p}.mlp.up_proj"), &mut mlp.up));
    out.push((format!("{p}.mlp.down_proj"), &mut mlp.down));
}

#[derive(Clone, Copy, Debug)]
pub enum GateAct {
    Silu,
    GeluTanh,
}

/// down(act(gate(x)) · up(x)) — SwiGLU for Llama, GeGLU (tanh) for Gemma-3.
pub struct GatedMlp {
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
    pub act: GateAct,
}

impl GatedMlp {
    pub fn load(w: &Weights, prefix: &str, cfg: &ModelConfig, act: GateAct) -> Result<Self> {
        let (d, inner, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Ok(GatedMlp {
            gate: linear(w, &format!("{prefix}.gate_proj"), inner, d, bias)?,
            up: linear(w, &format!("{prefix}.up_proj"), inner, d, bias)?,
            down: linear(w, &format!("{prefix}.down_proj"), d, inner, bias)?,
            act,
        })
    }

    pub fn forward(
        &self,
        x: &Tensor,
        layer: usize,
        hooks: &mut Option<&mut Hooks>,
    ) -> candle_core::Result<Tensor> {
        let pre = at(
            hooks,
            || format!("blocks.{layer}.mlp.hook_pre"),
            self.gate.forward(x)?,
        )?;
        let up = self.up.forward(x)?;
        let post = match self.act {
            GateAct::Silu => crate::fused::silu_mul(&pre, &up)?,
            GateAct::GeluTanh => (gelu_tanh(&pre)? * up)?,
        };
        let post = at(hooks, || format!("blocks.{layer}.mlp.hook_post"), post)?;
        self.down.forward(&post)
    }
}

/// The unembedding [vocab, d] as a linear layer without bias: the token embedding when tied,
/// else `lm_head.weight`.
pub fn lm_head(w: &Weights, cfg: &crate::ModelConfig, embedding: &Tensor) -> Result<Linear> {
    let table = if cfg.tie_word_embeddings {
        embedding.clone()
    } else {
        w.get("lm_head.weight", &[cfg.vocab_size, cfg.hidden_size])?
    };
    Ok(Linear::new(table, None))
}

/// Token embedding lookup: ids [b, t] → [b, t, d].
pub fn embed(table: &Tensor, ids: &Tensor) -> candle_core::Result<Tensor> {
    let (b, t) = ids.dims2()?;
    let d = table.dims()[1];
    table
        .index_select(&ids.flatten_all()?, 0)?
        .reshape((b, t, d))
}

/// Logits [b, t, vocab] from final hidden states [b, t, d] (the unembedding's prepacked copy
/// serves when `Linear::forward` can use it).
pub fn unembed(hidden: &Tensor, head: &Linear) -> candle_core::Result<Tensor> {
    hidden.dims3()?;
    head.forward(hidden)
}
