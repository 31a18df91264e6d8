//! Pieces that two or more architectures share: loading a linear layer by HF name, the
//! q/k/v/o projections of Llama-style attention (separate or fused), and the gated MLP (separate
//! or fused gate/up).

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

/// The query/key/value projections: three layers, or one fused layer whose output rows are
/// [q; k; v] (Phi-3 `qkv_proj`).
pub enum Qkv {
    Split {
        q: Linear,
        k: Linear,
        v: Linear,
    },
    Fused {
        qkv: Linear,
        q_dim: usize,
        kv_dim: usize,
    },
}

/// q/k/v/o projections of Llama-style attention.
pub struct AttnProj {
    pub qkv: Qkv,
    pub o: Linear,
}

impl AttnProj {
    /// `{prefix}.{q,k,v,o}_proj` (or `qkv_proj` + `o_proj` when `fused`); q/k/v have biases when
    /// the config's `attention_bias` is set, o_proj when `o_bias` too.
    pub fn load(
        w: &Weights,
        prefix: &str,
        cfg: &ModelConfig,
        fused: bool,
        o_bias: bool,
    ) -> Result<Self> {
        let (d, q_dim, kv_dim, bias) = (
            cfg.hidden_size,
            cfg.q_dim(),
            cfg.kv_dim(),
            cfg.attention_bias,
        );
        let qkv = if fused {
            let n = q_dim + 2 * kv_dim;
            Qkv::Fused {
                qkv: linear(w, &format!("{prefix}.qkv_proj"), n, d, bias)?,
                q_dim,
                kv_dim,
            }
        } else {
            Qkv::Split {
                q: linear(w, &format!("{prefix}.q_proj"), q_dim, d, bias)?,
                k: linear(w, &format!("{prefix}.k_proj"), kv_dim, d, bias)?,
                v: linear(w, &format!("{prefix}.v_proj"), kv_dim, d, bias)?,
            }
        };
        Ok(AttnProj {
            qkv,
            o: linear(w, &format!("{prefix}.o_proj"), d, q_dim, bias && o_bias)?,
        })
    }

    /// x: [b, t, d] → flat (q [b, t, h·hd], k [b, t, kv_h·hd], v [b, t, kv_h·hd]).
    pub fn project_flat(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        match &self.qkv {
            Qkv::Split { q, k, v } => Ok((q.forward(x)?, k.forward(x)?, v.forward(x)?)),
            Qkv::Fused { qkv, q_dim, kv_dim } => {
                let (q_dim, kv_dim) = (*q_dim, *kv_dim);
                let y = qkv.forward(x)?;
                Ok((
                    y.narrow(2, 0, q_dim)?,
                    y.narrow(2, q_dim, kv_dim)?,
                    y.narrow(2, q_dim + kv_dim, kv_dim)?,
                ))
            }
        }
    }

    /// x: [b, t, d] → (q [b, t, h, hd], k [b, t, kv_h, hd], v [b, t, kv_h, hd])
    pub fn project(
        &self,
        x: &Tensor,
        heads: usize,
        kv_heads: usize,
        hd: usize,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (q, k, v) = self.project_flat(x)?;
        split_heads((q, k, v), heads, kv_heads, hd)
    }

    /// The layers by their HF module names under `self_attn` (q, k, v then o).
    pub fn named(&self) -> Vec<(&'static str, &Linear)> {
        let mut out: Vec<(&'static str, &Linear)> = match &self.qkv {
            Qkv::Split { q, k, v } => vec![("q_proj", q), ("k_proj", k), ("v_proj", v)],
            Qkv::Fused { qkv, .. } => vec![("qkv_proj", qkv)],
        };
        out.push(("o_proj", &self.o));
        out
    }

    /// `named`, mutable.
    pub fn named_mut(&mut self) -> Vec<(&'static str, &mut Linear)> {
        let mut out: Vec<(&'static str, &mut Linear)> = match &mut self.qkv {
            Qkv::Split { q, k, v } => vec![("q_proj", q), ("k_proj", k), ("v_proj", v)],
            Qkv::Fused { qkv, .. } => vec![("qkv_proj", qkv)],
        };
        out.push(("o_proj", &mut self.o));
        out
    }
}

/// Flat q, k, v → [b, t, heads, hd] and [b, t, kv_heads, hd] (twice).
pub fn split_heads(
    (q, k, v): (Tensor, Tensor, Tensor),
    heads: usize,
    kv_heads: usize,
    hd: usize,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let (b, t, _) = q.dims3()?;
    Ok((
        q.reshape((b, t, heads, hd))?,
        k.reshape((b, t, kv_heads, hd))?,
        v.reshape((b, t, kv_heads, hd))?,
    ))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateAct {
    Silu,
    GeluTanh,
}

/// The gate and up projections: two layers, or one fused layer whose output is [gate, up]
/// (Phi-3 `gate_up_proj`).
pub enum GateUp {
    Split { gate: Linear, up: Linear },
    Fused(Linear),
}

/// down(act(gate(x)) · up(x)) — SwiGLU for Llama, GeGLU (tanh) for Gemma.
pub struct GatedMlp {
    pub gate_up: GateUp,
    pub down: Linear,
    pub act: GateAct,
}

impl GatedMlp {
    pub fn load(
        w: &Weights,
        prefix: &str,
        cfg: &ModelConfig,
        act: GateAct,
        fused: bool,
    ) -> Result<Self> {
        let (d, inner, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        let gate_up = if fused {
            GateUp::Fused(linear(
                w,
                &format!("{prefix}.gate_up_proj"),
                2 * inner,
                d,
                bias,
            )?)
        } else {
            GateUp::Split {
                gate: linear(w, &format!("{prefix}.gate_proj"), inner, d, bias)?,
                up: linear(w, &format!("{prefix}.up_proj"), inner, d, bias)?,
            }
        };
        Ok(GatedMlp {
            gate_up,
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
        let (gate, up) = match &self.gate_up {
            GateUp::Split { gate, up } => (gate.forward(x)?, up.forward(x)?),
            GateUp::Fused(l) => {
                let y = l.forward(x)?;
                let inner = y.dim(2)? / 2;
                (y.narrow(2, 0, inner)?, y.narrow(2, inner, inner)?)
            }
        };
        let pre = at(hooks, || format!("blocks.{layer}.mlp.hook_pre"), gate)?;
        let post = match self.act {
            GateAct::Silu => crate::fused::silu_mul(&pre, &up)?,
            GateAct::GeluTanh => (gelu_tanh(&pre)? * up)?,
        };
        let post = at(hooks, || format!("blocks.{layer}.mlp.hook_post"), post)?;
        self.down.forward(&post)
    }

    /// The layers by their HF module names under `mlp` (gate, up then down).
    pub fn named(&self) -> Vec<(&'static str, &Linear)> {
        let mut out: Vec<(&'static str, &Linear)> = match &self.gate_up {
            GateUp::Split { gate, up } => vec![("gate_proj", gate), ("up_proj", up)],
            GateUp::Fused(l) => vec![("gate_up_proj", l)],
        };
        out.push(("down_proj", &self.down));
        out
    }

    /// `named`, mutable.
    pub fn named_mut(&mut self) -> Vec<(&'static str, &mut Linear)> {
        let mut out: Vec<(&'static str, &mut Linear)> = match &mut self.gate_up {
            GateUp::Split { gate, up } => vec![("gate_proj", gate), ("up_proj", up)],
            GateUp::Fused(l) => vec![("gate_up_proj", l)],
        };
        out.push(("down_proj", &mut self.down));
        out
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
