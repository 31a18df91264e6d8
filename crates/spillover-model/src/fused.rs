//! Elementwise kernels fused for CPU inference: one pass over memory instead of one per candle op,
//! with an exponential the compiler vectorizes (glibc's `expf` is a scalar call, and takes a slow
//! path with `errno` on overflow, which SiLU of a very negative input reaches). They run only on
//! contiguous f32 CPU tensors outside autograd; everything else takes the candle composition, so
//! training and accelerators are unchanged.

use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor};
use rayon::prelude::*;

/// silu(gate) · up (SwiGLU's inner product), elementwise; same shapes.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if !(plain(gate) && plain(up)) || gate.shape() != up.shape() {
        return candle_nn::ops::silu(gate)? * up;
    }
    let (gate, up) = (gate.contiguous()?, up.contiguous()?);
    let (gs, gl) = gate.storage_and_layout();
    let (us, ul) = up.storage_and_layout();
    let (Some(g), Some(u)) = (f32_slice(&gs, gl), f32_slice(&us, ul)) else {
        candle_core::bail!("silu_mul: expected contiguous f32 CPU tensors")
    };
    let mut out = vec![0f32; g.len()];
    out.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK).zip(u.par_chunks(CHUNK)))
        .for_each(|(o, (g, u))| silu_mul_slice(g, u, o));
    drop((gs, us));
    Tensor::from_vec(out, gate.shape(), gate.device())
}

/// The elements of a contiguous f32 CPU tensor, in order.
fn f32_slice<'a>(s: &'a Storage, l: &Layout) -> Option<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) => Some(&v[a..b]),
        _ => None,
    }
}

/// Softmax over the last dimension of a contiguous f32 CPU tensor outside autograd (`None`
/// otherwise): per row, the max, then exp(x − max) with [`exp`], then the division by the sum.
pub fn softmax_last(x: &Tensor) -> Result<Option<Tensor>> {
    if !plain(x) {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let n = x.dims().last().copied().unwrap_or(1).max(1);
    let (xs, xl) = x.storage_and_layout();
    let Some(v) = f32_slice(&xs, xl) else {
        return Ok(None);
    };
    let mut out = vec![0f32; v.len()];
    let rows = (CHUNK / n).max(1) * n;
    out.par_chunks_mut(rows)
        .zip(v.par_chunks(rows))
        .for_each(|(o, v)| softmax_rows(v, o, n));
    drop(xs);
    Ok(Some(Tensor::from_vec(out, x.shape(), x.device())?))
}

/// Per row of a [rows, n] f32 CPU tensor outside autograd (`None` otherwise): the max, the log of
/// Σ exp(x − max), and the index of the first max — what a log-softmax and an argmax need,
/// without writing a tensor of the row's size.
pub fn log_softmax_stats(x: &Tensor) -> Result<Option<Vec<RowStats>>> {
    if !plain(x) || x.rank() != 2 {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let n = x.dim(1)?.max(1);
    let (xs, xl) = x.storage_and_layout();
    let Some(v) = f32_slice(&xs, xl) else {
        return Ok(None);
    };
    let stats = v.par_chunks(n).map(row_stats).collect();
    drop(xs);
    Ok(Some(stats))
}

/// See [`log_softmax_stats`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowStats {
    pub max: f32,
    /// log Σ exp(x − max)
    pub lse: f32,
    pub argmax: u32,
}

fn plain(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && !x.track_op()
}

#[inline(always)]
fn softmax_rows_generic(v: &[f32], o: &mut [f32], n: usize) {
    for (o, v) in o.chunks_mut(n).zip(v.chunks(n)) {
        let max = lanes_max(v);
        for (o, &x) in o.iter_mut().zip(v) {
            *o = exp(x - max);
        }
        let inv = 1.0 / lanes_sum(o);
        for o in o.iter_mut() {
            *o *= inv;
        }
    }
}

#[inline(always)]
fn row_stats_generic(v: &[f32]) -> RowStats {
    let max = lanes_max(v);
    let argmax = v.iter().position(|&x| x == max).unwrap_or(0) as u32;
    let mut acc = [0f32; LANES];
    let (body, tail) = v.split_at(v.len() / LANES * LANES);
    for c in body.chunks_exact(LANES) {
        for i in 0..LANES {
            acc[i] += exp(c[i] - max);
        }
    }
    let sum = acc.iter().sum::<f32>() + tail.iter().map(|&x| exp(x - max)).sum::<f32>();
    RowStats {
        max,
        lse: sum.ln(),
        argmax,
    }
}

/// Independent accumulators, so that reductions vectorize (f32 addition is not associative, so
/// the compiler keeps a single running sum in order otherwise).
const LANES: usize = 16;

#[inline(always)]
fn lanes_max(v: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let (body, tail) = v.split_at(v.len() / LANES * LANES);
    for c in body.chunks_exact(LANES) {
        for i in 0..LANES {
            acc[i] = acc[i].max(c[i]);
        }
    }
    acc.iter()
        .chain(tail)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// The sum of `v` in a fixed order: LANES interleaved partial sums, then the tail.
#[inline(always)]
pub(crate) fn lanes_sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (body, tail) = v.split_at(v.len() / LANES * LANES);
    for c in body.chunks_exact(LANES) {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// Elements per parallel task (large enough that scheduling is negligible).
const CHUNK: usize = 1 << 15;

/// Runs `$generic` (an `#[inline(always)]` fn) compiled for AVX-512 when the CPU has it.
macro_rules! with_avx512 {
    ($name:ident, $generic:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx512f") {
                #[target_feature(enable = "avx512f")]
                unsafe fn fast($($arg: $ty),*) -> $ret {
                    $generic($($arg),*)
                }
                // SAFETY: the CPU supports the features `fast` is compiled for.
                return unsafe { fast($($arg),*) };
            }
            $generic($($arg),*)
        }
    };
}

with_avx512!(silu_mul_slice, silu_mul_generic, (g: &[f32], u: &[f32], o: &mut [f32]) -> ());
with_avx512!(softmax_rows, softmax_rows_generic, (v: &[f32], o: &mut [f32], n: usize) -> ());
with_avx512!(row_stats, row_stats_generic, (v: &[f32]) -> RowStats);

#[inline(always)]
fn silu_mul_generic(g: &[f32], u: &[f32], o: &mut [f32]) {
    for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
        *o = g / (1.0 + exp(-g)) * u;
    }
}

/// eˣ for f32, within 2 ulp of the exact value, written without calls so that loops over it
/// vectorize: x = n·ln 2 + r with |r| ≤ ln 2 / 2, eʳ by its Taylor polynomial to degree 6, and 2ⁿ
/// put into the exponent bits. Inputs below −87.33 give 0 (no subnormals; a masked attention score
/// gets exactly zero weight), inputs above 88.37 give +∞.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with few mantissa bits so n·LN2_HI is exact (Cody–Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let c = x.clamp(-87.33, 88.37);
    // Round to nearest by adding and subtracting 1.5·2²³ (no SSE4.1 `round` call needed).
    const MAGIC: f32 = 12_582_912.0;
    let n = (c * LOG2E + MAGIC) - MAGIC;
    let r = (c - n * LN2_HI) - n * LN2_LO;
    let p = 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x > 88.37 {
        f32::INFINITY
    } else if x < -87.33 {
        0.0
    } else {
        p * scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_of_the_library_exp() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        // 2 ulp of f32 is 2.4e-7 relative.
        assert!(worst < 2.5e-7, "largest relative error {worst:e}");
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(f32::MIN), 0.0);
        assert!(exp(88.3).is_finite());
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn silu_mul_matches_the_candle_composition() {
        let dev = candle_core::Device::Cpu;
        let g = Tensor::randn(0f32, 6.0, (37, 1001), &dev).unwrap();
        let u = Tensor::randn(0f32, 1.0, (37, 1001), &dev).unwrap();
        let got: Vec<f32> = silu_mul(&g, &u)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let want = (candle_nn::ops::silu(&g).unwrap() * &u).unwrap();
        let want: Vec<f32> = want.flatten_all().unwrap().to_vec1().unwrap();
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let big = Tensor::new(&[[-1000f32, 1000.0, 0.0]], &dev).unwrap();
        let one = Tensor::ones((1, 3), DType::F32, &dev).unwrap();
        let v: Vec<f32> = silu_mul(&big, &one)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(v, vec![0.0, 1000.0, 0.0]);
    }

    #[test]
    fn softmax_and_row_stats_match_candle() {
        let dev = candle_core::Device::Cpu;
        let x = Tensor::randn(0f32, 8.0, (5, 3, 777), &dev).unwrap();
        let got = softmax_last(&x).unwrap().unwrap();
        let want = candle_nn::ops::softmax_last_dim(&x).unwrap();
        let diff: f32 = (got - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        // f32 sums of 777 terms in another order differ by a few ulp of the largest weight.
        assert!(diff < 1e-5, "softmax differs by {diff}");
        let x = x.reshape((15, 777)).unwrap();
        let stats = log_softmax_stats(&x).unwrap().unwrap();
        let max: Vec<f32> = x.max(1).unwrap().to_vec1().unwrap();
        let arg: Vec<u32> = x.argmax(1).unwrap().to_vec1().unwrap();
        let lse: Vec<f32> = x
            .broadcast_sub(&x.max_keepdim(1).unwrap())
            .unwrap()
            .exp()
            .unwrap()
            .sum(1)
            .unwrap()
            .log()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (i, s) in stats.iter().enumerate() {
            assert_eq!((s.max, s.argmax), (max[i], arg[i]));
            assert!((s.lse - lse[i]).abs() < 1e-5, "{} vs {}", s.lse, lse[i]);
        }
    }
}
