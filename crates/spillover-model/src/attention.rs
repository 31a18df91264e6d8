//! The attention core shared by every architecture: per-head hooks, rotary embedding, KV cache,
//! grouped-query attention without copying K/V, soft-capping and masking.

use crate::hooks::{at, Hooks};
use crate::layers::{softcap, softmax_last, LayerCache, Rotary};
use candle_core::{DType, Result, Tensor};

pub struct AttnCore {
    pub layer: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub scale: f64,
    pub softcap: Option<f64>,
}

impl AttnCore {
    /// The attention core of layer `layer` as the config describes it.
    pub fn for_layer(cfg: &crate::ModelConfig, layer: usize) -> Self {
        AttnCore {
            layer,
            num_heads: cfg.num_heads,
            num_kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
            scale: cfg.attn_scale,
            softcap: cfg.attn_logit_softcap,
        }
    }

    /// qkv: q [b, t, h, d], k and v [b, t, kv_h, d] (already projected). Returns z flattened to [b, t, h·d].
    pub fn forward(
        &self,
        qkv: (Tensor, Tensor, Tensor),
        rotary: Option<&Rotary>,
        mask: &Tensor,
        cache: Option<&mut LayerCache>,
        hooks: &mut Option<&mut Hooks>,
    ) -> Result<Tensor> {
        let l = self.layer;
        let (q, k, v) = qkv;
        let (b, t, h, d) = q.dims4()?;
        let q = at(hooks, || format!("blocks.{l}.attn.hook_q"), q)?;
        let k = at(hooks, || format!("blocks.{l}.attn.hook_k"), k)?;
        let v = at(hooks, || format!("blocks.{l}.attn.hook_v"), v)?;
        // (b, t, h, d) -> (b, h, t, d)
        let mut q = q.transpose(1, 2)?.contiguous()?;
        let mut k = k.transpose(1, 2)?.contiguous()?;
        let v = v.transpose(1, 2)?.contiguous()?;
        if let Some(r) = rotary {
            q = r.apply(&q)?;
            k = r.apply(&k)?;
        }
        let (k, v) = match cache {
            Some(c) => c.append(k, v)?,
            None => (k, v),
        };
        let total = k.dims()[2];
        let g = self.num_heads / self.num_kv_heads;
        // Grouped-query attention: query head i reads key/value head i / g. Folding the g query heads
        // of a group into the row dimension lets one batched matmul serve them all.
        let qg = q.reshape((b, self.num_kv_heads, g * t, d))?;
        let scores = qg.matmul(&k.t()?)?.reshape((b, h, t, total))?; // (b, h, t, T)
        let mut scores = (scores.to_dtype(DType::F32)? * self.scale)?;
        if let Some(cap) = self.softcap {
            scores = softcap(&scores, cap)?;
        }
        let scores = scores.broadcast_add(&mask.to_dtype(DType::F32)?)?;
        let scores = at(
            hooks,
            || format!("blocks.{l}.attn.hook_attn_scores"),
            scores,
        )?;
        let pattern = softmax_last(&scores)?;
        let pattern = at(hooks, || format!("blocks.{l}.attn.hook_pattern"), pattern)?;
        let pg = pattern
            .to_dtype(v.dtype())?
            .reshape((b, self.num_kv_heads, g * t, total))?;
        let z = pg.matmul(&v)?.reshape((b, h, t, d))?.transpose(1, 2)?; // (b, t, h, d)
        let z = at(hooks, || format!("blocks.{l}.attn.hook_z"), z)?;
        z.contiguous()?.reshape((b, t, h * d))
    }
}
