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
        // Incremental (cached) forwards without hooks take the fast paths; every other forward, and
        // so every hook and parity check, takes the dense reference path.
        let fast = hooks.is_none() && cache.is_some();
        let (k, v) = match cache {
            Some(c) => c.append(k, v)?,
            None => (k, v),
        };
        if fast {
            if let Some(z) = fused::attend(&q, &k, &v, mask, self)? {
                return z.reshape((b, t, h * d));
            }
            if t > 1 && causal::holds(mask, k.dims()[2])? {
                return self.blocked(&q, &k, &v, mask);
            }
        }
        let z = self.dense(&q, &k, &v, mask, hooks)?; // (b, t, h, d)
        let z = at(hooks, || format!("blocks.{l}.attn.hook_z"), z)?;
        z.contiguous()?.reshape((b, t, h * d))
    }

    /// Scores, softmax and the weighted sum of values for queries q [b, h, t, d] over keys and
    /// values [b, kv_h, T, d], with the score and pattern hooks. Returns z [b, t, h, d].
    fn dense(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        hooks: &mut Option<&mut Hooks>,
    ) -> Result<Tensor> {
        let l = self.layer;
        let (b, h, t, d) = q.dims4()?;
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
        pg.matmul(v)?.reshape((b, h, t, d))?.transpose(1, 2) // (b, t, h, d)
    }

    /// `dense` over blocks of queries, each reading only the keys up to its last query (a causal
    /// mask gives every later key exactly zero weight), so no [b, h, t, T] score tensor is built and
    /// about half of the score work is skipped. Returns z flattened to [b, t, h·d].
    fn blocked(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, h, t, d) = q.dims4()?;
        let total = k.dims()[2];
        let past = total - t;
        // Keep each block's scores near 4M values (16 MB in f32), at least 16 queries (or all t).
        let rows = ((1usize << 22) / (b * h * total).max(1)).max(16).min(t);
        let mut parts = Vec::with_capacity(t.div_ceil(rows));
        let mut none = None;
        for q0 in (0..t).step_by(rows) {
            let n = rows.min(t - q0);
            let keys = past + q0 + n;
            let z = self.dense(
                &q.narrow(2, q0, n)?.contiguous()?,
                &k.narrow(2, 0, keys)?,
                &v.narrow(2, 0, keys)?,
                &mask.narrow(2, q0, n)?.narrow(3, 0, keys)?,
                &mut none,
            )?;
            parts.push(z);
        }
        Tensor::cat(&parts, 1)?.contiguous()?.reshape((b, t, h * d))
    }
}

/// Whether an additive mask [b, 1, t, T] is causal: query i (at position T − t + i) gives no
/// weight to any later key. Checked once per mask tensor (all layers of a forward share one).
mod causal {
    use candle_core::{DType, Result, Tensor, TensorId};
    use std::cell::Cell;

    thread_local! {
        static LAST: Cell<Option<(TensorId, bool)>> = const { Cell::new(None) };
    }

    pub fn holds(mask: &Tensor, total: usize) -> Result<bool> {
        if let Some((id, ok)) = LAST.with(Cell::get) {
            if id == mask.id() {
                return Ok(ok);
            }
        }
        let ok = check(mask, total)?;
        LAST.with(|c| c.set(Some((mask.id(), ok))));
        Ok(ok)
    }

    fn check(mask: &Tensor, total: usize) -> Result<bool> {
        let Ok((b, one, t, kt)) = mask.dims4() else {
            return Ok(false);
        };
        if one != 1 || kt != total || t > total {
            return Ok(false);
        }
        let m: Vec<f32> = mask.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let past = total - t;
        Ok((0..b * t).all(|r| {
            let row = &m[r * total..][..total];
            row[past + r % t + 1..]
                .iter()
                .all(|&x| x < super::fused::MASKED)
        }))
    }
}

mod fused;
