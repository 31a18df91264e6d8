//! Attention of a few new queries (decode steps) computed row by row on the CPU: no score tensor,
//! masked keys skipped (they get exactly zero weight in the dense path too), the batch rows split
//! across threads. Used when no hooks watch the scores; other cases go through `dense`.

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
    let threads = candle_core::utils::get_num_threads().min(b);
    if threads <= 1 || b * h * t * total * d < 1 << 18 {
        run(&job, 0, &mut z);
    } else {
        // Rows differ in length (a batch is sorted longest first), so rows are shared out by
        // the keys they attend to, not by count.
        let bounds = balanced_split(&job, b, threads);
        let mut rest: &mut [f32] = &mut z;
        let mut parts = Vec::with_capacity(threads);
        for w in bounds.windows(2) {
            let (head, tail) = rest.split_at_mut((w[1] - w[0]) * t * h * d);
            parts.push((w[0], head));
            rest = tail;
        }
        let job = &job;
        let first = parts.remove(0);
        rayon::scope(|s| {
            for (b0, part) in parts {
                s.spawn(move |_| run(job, b0, part));
            }
            run(job, first.0, first.1);
        });
    }
    drop((qs, ks, vs, ms));
    Ok(Some(Tensor::from_vec(z, (b, t, h, d), q.device())?))
}

/// Row boundaries `0 = r0 ≤ r1 ≤ … ≤ b` cutting the `b` rows into `parts` consecutive runs with
/// about the same number of attended keys (counted on each row's first query).
fn balanced_split(job: &Job, b: usize, parts: usize) -> Vec<usize> {
    let cost: Vec<usize> = (0..b)
        .map(|bi| {
            let mbi = if job.mask_rows == 1 { 0 } else { bi };
            let mrow = &job.mask[mbi * job.t * job.total..][..job.total];
            1 + mrow.iter().filter(|&&m| m >= MASKED).count()
        })
        .collect();
    let all: usize = cost.iter().sum();
    let mut bounds = vec![0];
    let mut acc = 0;
    for (bi, c) in cost.iter().enumerate() {
        acc += c;
        let k = bounds.len();
        if k < parts && acc * parts >= all * k && bi + 1 < b {
            bounds.push(bi + 1);
        }
    }
    bounds.push(b);
    bounds
}

/// Fills `out` ([rows, t, h, d]) for the batch rows starting at `b0`.
fn run(job: &Job, b0: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if job.d == avx512::D && is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { avx512::run(job, b0, out) };
    }
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
                let qv = &job.q.data[bi * job.q.s[0] + hi * job.q.s[1] + qi * job.q.s[2]..][..d];
                head(job, bi, hi / job.g, qv, mrow, &mut w, o);
            }
        }
    }
}

/// One query row: weights over the keys, then the weighted sum of values into `o`.
#[inline(always)]
fn head(job: &Job, bi: usize, kh: usize, qv: &[f32], mrow: &[f32], w: &mut [f32], o: &mut [f32]) {
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

/// The same computation for head size 64 with AVX-512: the query heads that share a key/value
/// head are done together, so each key and value row is read once per group instead of once per
/// query head, and the group's outputs stay in registers across the keys.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{head, Job, MASKED};
    use std::arch::x86_64::*;

    /// The head size this kernel serves.
    pub const D: usize = 64;
    /// Most query heads done together (4 × 4 accumulators of 16 lanes).
    const GROUP: usize = 4;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn run(job: &Job, b0: usize, out: &mut [f32]) {
        let (t, h, g, total) = (job.t, job.h, job.g, job.total);
        let mut w = vec![0f32; GROUP * total];
        let mut runs = Vec::new();
        for (r, zrow) in out.chunks_mut(t * h * D).enumerate() {
            let bi = b0 + r;
            let mbi = if job.mask_rows == 1 { 0 } else { bi };
            for qi in 0..t {
                let mrow = &job.mask[(mbi * t + qi) * total..][..total];
                valid_runs(mrow, &mut runs);
                for h0 in (0..h).step_by(g) {
                    for g0 in (h0..h0 + g).step_by(GROUP) {
                        let n = GROUP.min(h0 + g - g0);
                        let at = Slot {
                            bi,
                            qi,
                            kh: h0 / g,
                            h0: g0,
                        };
                        let keys = Keys {
                            mask: mrow,
                            runs: &runs,
                        };
                        match n {
                            1 => group::<1>(job, at, keys, &mut w, zrow),
                            2 => group::<2>(job, at, keys, &mut w, zrow),
                            3 => group::<3>(job, at, keys, &mut w, zrow),
                            _ => group::<4>(job, at, keys, &mut w, zrow),
                        }
                    }
                }
            }
        }
    }

    /// The attended keys of one query: its additive mask row and the runs of positions
    /// `start..end` it does not mask.
    #[derive(Clone, Copy)]
    struct Keys<'a> {
        mask: &'a [f32],
        runs: &'a [(usize, usize)],
    }

    /// The runs of consecutive unmasked positions of `mask`, into `runs`.
    fn valid_runs(mask: &[f32], runs: &mut Vec<(usize, usize)>) {
        runs.clear();
        let mut j = 0;
        while j < mask.len() {
            if mask[j] < MASKED {
                j += 1;
                continue;
            }
            let start = j;
            while j < mask.len() && mask[j] >= MASKED {
                j += 1;
            }
            runs.push((start, j));
        }
    }

    /// Rows of keys or values ahead of the one being read: a row's positions are consecutive
    /// 256-byte rows, and the hardware prefetcher stops at every 4 KB page.
    const AHEAD: usize = 8;

    /// Asks for the row `AHEAD` positions after `row` (a hint: never faults, even past the end).
    #[inline(always)]
    unsafe fn prefetch_ahead(row: *const f32) {
        let p = row.wrapping_add(AHEAD * D) as *const i8;
        for line in 0..4 {
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64 * line));
        }
    }

    /// A key or value row of D values as four vectors, asking for the row `AHEAD` after it.
    #[inline(always)]
    unsafe fn load_row(row: &[f32]) -> [__m512; 4] {
        let p = row[..D].as_ptr();
        prefetch_ahead(p);
        std::array::from_fn(|c| _mm512_loadu_ps(p.add(16 * c)))
    }

    /// Which queries a group serves: batch row, query, key/value head, first query head.
    #[derive(Clone, Copy)]
    struct Slot {
        bi: usize,
        qi: usize,
        kh: usize,
        h0: usize,
    }

    /// Query heads `h0..h0 + N` (all reading key/value head `kh`) of query `qi` in row `bi`,
    /// written into `zrow` ([t, h, D] of that row). `w` holds the N rows of weights over the
    /// attended keys only, one after the other.
    #[target_feature(enable = "avx512f")]
    unsafe fn group<const N: usize>(
        job: &Job,
        at: Slot,
        keys: Keys,
        w: &mut [f32],
        zrow: &mut [f32],
    ) {
        let Slot { bi, qi, kh, h0 } = at;
        let h = job.h;
        let qrow =
            |hi: usize| &job.q.data[bi * job.q.s[0] + hi * job.q.s[1] + qi * job.q.s[2]..][..D];
        let nk: usize = keys.runs.iter().map(|(a, b)| b - a).sum();
        if nk == 0 {
            // Every key masked: the reference path (uniform weights, as the dense path gives).
            for n in 0..N {
                let o = &mut zrow[(qi * h + h0 + n) * D..][..D];
                head(job, bi, kh, qrow(h0 + n), keys.mask, &mut w[..job.total], o);
            }
            return;
        }
        let q: [[__m512; 4]; N] = std::array::from_fn(|n| {
            let r = qrow(h0 + n);
            std::array::from_fn(|c| _mm512_loadu_ps(r[16 * c..].as_ptr()))
        });
        // Scores of the attended keys.
        let mut max = [f32::NEG_INFINITY; N];
        let mut i = 0;
        for &(a, b) in keys.runs {
            for j in a..b {
                let k = load_row(job.k.row(bi, kh, j, D));
                for n in 0..N {
                    let mut acc = _mm512_mul_ps(q[n][0], k[0]);
                    acc = _mm512_fmadd_ps(q[n][1], k[1], acc);
                    acc = _mm512_fmadd_ps(q[n][2], k[2], acc);
                    acc = _mm512_fmadd_ps(q[n][3], k[3], acc);
                    let mut s = _mm512_reduce_add_ps(acc) * job.scale;
                    if let Some(c) = job.softcap {
                        s = (s * (1.0 / c)).tanh() * c;
                    }
                    let s = s + keys.mask[j];
                    w[n * nk + i] = s;
                    max[n] = max[n].max(s);
                }
                i += 1;
            }
        }
        // Softmax weights.
        for n in 0..N {
            let wn = &mut w[n * nk..][..nk];
            for x in wn.iter_mut() {
                *x = crate::fused::exp(*x - max[n]);
            }
            let inv = 1.0 / crate::fused::lanes_sum(wn);
            for x in wn.iter_mut() {
                *x *= inv;
            }
        }
        // Weighted sum of the values.
        let mut acc = [[_mm512_setzero_ps(); 4]; N];
        let mut i = 0;
        for &(a, b) in keys.runs {
            for j in a..b {
                let v = load_row(job.v.row(bi, kh, j, D));
                for n in 0..N {
                    let p = _mm512_set1_ps(w[n * nk + i]);
                    for c in 0..4 {
                        acc[n][c] = _mm512_fmadd_ps(p, v[c], acc[n][c]);
                    }
                }
                i += 1;
            }
        }
        for (n, an) in acc.iter().enumerate() {
            let o = zrow[(qi * h + h0 + n) * D..][..D].as_mut_ptr();
            for (c, ac) in an.iter().enumerate() {
                _mm512_storeu_ps(o.add(16 * c), *ac);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut s = seed;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// softmax(q kᵀ · scale (soft-capped) + mask) v with tensor ops, head by head: z [b, t, h, d].
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, core: &AttnCore) -> Tensor {
        let (_, h, _, _) = q.dims4().unwrap();
        let g = core.num_heads / core.num_kv_heads;
        let heads: Vec<Tensor> = (0..h)
            .map(|hi| {
                let qh = q.narrow(1, hi, 1).unwrap();
                let kh = k.narrow(1, hi / g, 1).unwrap();
                let vh = v.narrow(1, hi / g, 1).unwrap();
                let mut s = (qh.matmul(&kh.t().unwrap()).unwrap() * core.scale).unwrap();
                if let Some(c) = core.softcap {
                    s = ((s / c).unwrap().tanh().unwrap() * c).unwrap();
                }
                let s = s.broadcast_add(mask).unwrap();
                let p = candle_nn::ops::softmax_last_dim(&s).unwrap();
                p.matmul(&vh).unwrap()
            })
            .collect();
        Tensor::cat(&heads, 1).unwrap().transpose(1, 2).unwrap()
    }

    /// The additive mask [b, 1, t, total]: row 0 attends everything causally, row 1 has left
    /// padding and a hole, row 2 sees no key at all for its first query.
    fn mask(b: usize, t: usize, total: usize) -> Tensor {
        let mut m = vec![0f32; b * t * total];
        for bi in 0..b {
            for qi in 0..t {
                for j in 0..total {
                    let causal = j <= total - t + qi;
                    let valid = match bi % 3 {
                        0 => true,
                        1 => j >= 5 && j != 9,
                        _ => qi > 0 && j >= 3,
                    };
                    if !(causal && valid) {
                        m[(bi * t + qi) * total + j] = f32::MIN;
                    }
                }
            }
        }
        Tensor::from_vec(m, (b, 1, t, total), &Device::Cpu).unwrap()
    }

    #[test]
    fn fused_attention_matches_the_tensor_formula() {
        // Head size 64 takes the AVX-512 kernel where the CPU has it (groups of 1 to 4 query
        // heads per key/value head, and 5 = 4 + 1); 16 the portable one.
        for (h, kv_h, d) in [(6, 2, 64), (4, 1, 64), (5, 1, 64), (3, 3, 64), (4, 2, 16)] {
            for (t, softcap) in [(1, None), (3, None), (2, Some(5.0))] {
                let (b, total) = (3, 20);
                let core = AttnCore {
                    layer: 0,
                    num_heads: h,
                    num_kv_heads: kv_h,
                    head_dim: d,
                    scale: 1.0 / (d as f64).sqrt(),
                    softcap,
                };
                let q = random(&[b, h, t, d], 1);
                let k = random(&[b, kv_h, total, d], 2);
                let v = random(&[b, kv_h, total, d], 3);
                let m = mask(b, t, total);
                let got = attend(&q, &k, &v, &m, &core).unwrap().expect("fused path");
                let want = reference(&q, &k, &v, &m, &core);
                let diff = (got - want).unwrap().abs().unwrap();
                let worst = diff.max_keepdim(D::Minus1).unwrap().flatten_all().unwrap();
                let worst = worst.max(0).unwrap().to_scalar::<f32>().unwrap();
                assert!(worst < 1e-5, "h {h} kv {kv_h} d {d} t {t}: max |Δ| {worst}");
            }
        }
    }
}
