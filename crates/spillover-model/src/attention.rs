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

/// Attention of a few new queries (decode steps) computed row by row on the CPU: no score tensor,
/// masked keys skipped (they get exactly zero weight in the dense path too), the batch rows split
/// across threads. Used when no hooks watch the scores; other cases go through `dense`.
mod fused {
    use super::AttnCore;
    use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor};

    /// Additive mask values below this mean "not attended" (exp underflows to exactly 0).
    pub const MASKED: f32 = -1e30;
    /// Largest number of new queries per row handled here.
    const MAX_T: usize = 16;

    struct Strided<'a> {
        data: &'a [f32],
        /// (batch, kv head, position) strides; the last dimension is contiguous.
        s: [usize; 3],
    }

    impl Strided<'_> {
        #[inline(always)]
        fn row(&self, b: usize, h: usize, j: usize, d: usize) -> &[f32] {
            &self.data[b * self.s[0] + h * self.s[1] + j * self.s[2]..][..d]
        }
    }

    fn f32_view<'a>(s: &'a Storage, l: &Layout) -> Option<Strided<'a>> {
        let Storage::Cpu(CpuStorage::F32(data)) = s else {
            return None;
        };
        let st = l.stride();
        (l.dims().len() == 4 && st[3] == 1).then(|| Strided {
            data: &data[l.start_offset()..],
            s: [st[0], st[1], st[2]],
        })
    }

    struct Job<'a> {
        q: Strided<'a>,
        k: Strided<'a>,
        v: Strided<'a>,
        mask: &'a [f32],
        mask_rows: usize,
        h: usize,
        g: usize,
        t: usize,
        d: usize,
        total: usize,
        scale: f32,
        softcap: Option<f32>,
    }

    /// z [b, t, h, d] for q [b, h, t, d], k/v [b, kv_h, T, d] and an additive mask [b or 1, 1, t, T];
    /// `None` when the inputs are not f32 CPU tensors of that form or t is too large.
    pub fn attend(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: &Tensor,
        core: &AttnCore,
    ) -> Result<Option<Tensor>> {
        let (b, h, t, d) = q.dims4()?;
        let total = k.dims()[2];
        let ok_dtype = [q, k, v, mask].iter().all(|x| x.dtype() == DType::F32);
        let ok_grad = ![q, k, v].iter().any(|x| x.track_op());
        if t > MAX_T || !q.device().is_cpu() || !ok_dtype || !ok_grad {
            return Ok(None);
        }
        let (mb, _, mt, mtot) = mask.dims4()?;
        if mt != t || mtot != total || (mb != b && mb != 1) {
            return Ok(None);
        }
        let mask = mask.contiguous()?;
        let (qs, ql) = q.storage_and_layout();
        let (ks, kl) = k.storage_and_layout();
        let (vs, vl) = v.storage_and_layout();
        let (ms, ml) = mask.storage_and_layout();
        let (Some(qv), Some(kv), Some(vv), Some(mv)) = (
            f32_view(&qs, ql),
            f32_view(&ks, kl),
            f32_view(&vs, vl),
            f32_view(&ms, ml),
        ) else {
            return Ok(None);
        };
        let job = Job {
            q: qv,
            k: kv,
            v: vv,
            mask: mv.data,
            mask_rows: mb,
            h,
            g: core.num_heads / core.num_kv_heads,
            t,
            d,
            total,
            scale: core.scale as f32,
            softcap: core.softcap.map(|c| c as f32),
        };
        let mut z = vec![0f32; b * t * h * d];
        let per_row = t * h * d;
        let threads = candle_core::utils::get_num_threads().min(b);
        if threads <= 1 || b * h * t * total * d < 1 << 18 {
            run(&job, 0, &mut z);
        } else {
            let rows_per = b.div_ceil(threads);
            std::thread::scope(|s| {
                let mut chunks = z.chunks_mut(rows_per * per_row).enumerate();
                let first = chunks.next();
                for (i, c) in chunks {
                    let job = &job;
                    s.spawn(move || run(job, i * rows_per, c));
                }
                if let Some((_, c)) = first {
                    run(&job, 0, c);
                }
            });
        }
        drop((qs, ks, vs, ms));
        Ok(Some(Tensor::from_vec(z, (b, t, h, d), q.device())?))
    }

    /// Fills `out` ([rows, t, h, d]) for the batch rows starting at `b0`.
    fn run(job: &Job, b0: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { run_avx2(job, b0, out) };
        }
        run_generic(job, b0, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(job: &Job, b0: usize, out: &mut [f32]) {
        run_generic(job, b0, out)
    }

    #[inline(always)]
    fn run_generic(job: &Job, b0: usize, out: &mut [f32]) {
        let (t, h, d, total) = (job.t, job.h, job.d, job.total);
        let mut w = vec![0f32; total];
        for (r, zrow) in out.chunks_mut(t * h * d).enumerate() {
            let bi = b0 + r;
            let mbi = if job.mask_rows == 1 { 0 } else { bi };
            for qi in 0..t {
                let mrow = &job.mask[(mbi * t + qi) * total..][..total];
                for hi in 0..h {
                    let o = &mut zrow[(qi * h + hi) * d..][..d];
                    let qv =
                        &job.q.data[bi * job.q.s[0] + hi * job.q.s[1] + qi * job.q.s[2]..][..d];
                    head(job, bi, hi / job.g, qv, mrow, &mut w, o);
                }
            }
        }
    }

    /// One query row: weights over the keys, then the weighted sum of values into `o`.
    #[inline(always)]
    fn head(
        job: &Job,
        bi: usize,
        kh: usize,
        qv: &[f32],
        mrow: &[f32],
        w: &mut [f32],
        o: &mut [f32],
    ) {
        let d = job.d;
        let mut max = f32::NEG_INFINITY;
        for (j, (wj, &m)) in w.iter_mut().zip(mrow).enumerate() {
            if m < MASKED {
                *wj = f32::NEG_INFINITY;
                continue;
            }
            let mut s = dot(qv, job.k.row(bi, kh, j, d)) * job.scale;
            if let Some(c) = job.softcap {
                s = (s * (1.0 / c)).tanh() * c;
            }
            *wj = s + m;
            max = max.max(*wj);
        }
        o.fill(0.0);
        if max == f32::NEG_INFINITY {
            // Every key masked: the dense path's softmax is uniform over all keys.
            let p = 1.0 / job.total as f32;
            for j in 0..job.total {
                axpy(p, job.v.row(bi, kh, j, d), o);
            }
            return;
        }
        let mut sum = 0f32;
        for wj in w.iter_mut() {
            *wj = if *wj == f32::NEG_INFINITY {
                0.0
            } else {
                (*wj - max).exp()
            };
            sum += *wj;
        }
        for (j, &e) in w.iter().enumerate() {
            if e != 0.0 {
                axpy(e / sum, job.v.row(bi, kh, j, d), o);
            }
        }
    }

    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; 16];
        let (ac, ar) = a.split_at(a.len() / 16 * 16);
        let (bc, br) = b.split_at(ac.len());
        for (x, y) in ac.chunks_exact(16).zip(bc.chunks_exact(16)) {
            for i in 0..16 {
                acc[i] += x[i] * y[i];
            }
        }
        let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
        acc.iter().sum::<f32>() + tail
    }

    #[inline(always)]
    fn axpy(p: f32, v: &[f32], o: &mut [f32]) {
        for (oi, vi) in o.iter_mut().zip(v) {
            *oi += p * vi;
        }
    }
}
