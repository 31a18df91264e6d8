//! Small dense linear algebra the analyses need and candle lacks: the weight a linear layer really
//! applies (LoRA included), weight differences between two models, and the top singular vectors of
//! a matrix (block power iteration with a Rayleigh–Ritz step, in f64).

use anyhow::{ensure, Result};
use candle_core::{DType, Tensor};
use spillover_model::linear::Linear;
use spillover_model::Model;

/// The weight [out, in] the layer applies: W, plus scale·BA when a LoRA adapter is enabled and not
/// merged (f32).
pub fn effective_weight(lin: &Linear) -> Result<Tensor> {
    let w = lin.weight.to_dtype(DType::F32)?;
    Ok(match lin.lora.as_ref().filter(|l| l.enabled && !l.merged) {
        Some(l) => (w + l.delta()?.to_dtype(DType::F32)?)?,
        None => w,
    })
}

/// tuned − base effective weight of every linear layer whose weights differ, by HF module path
/// (LoRA adapters, full fine-tuning and weight edits alike).
pub fn weight_deltas(base: &Model, tuned: &Model) -> Result<Vec<(String, Tensor)>> {
    let b = base.linears();
    let t = tuned.linears();
    ensure!(
        b.len() == t.len(),
        "weight_deltas: the models have {} and {} linear layers (not the same architecture)",
        b.len(),
        t.len()
    );
    let mut out = Vec::new();
    for ((nb, lb), (nt, lt)) in b.iter().zip(&t) {
        ensure!(nb == nt, "weight_deltas: layer {nb} vs {nt}");
        let delta = (effective_weight(lt)? - effective_weight(lb)?)?;
        let max = delta.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
        if max > 0.0 {
            out.push((nb.clone(), delta));
        }
    }
    Ok(out)
}

/// One singular triplet: M v = σ u.
#[derive(Clone, Debug)]
pub struct Singular {
    pub sigma: f64,
    /// Left singular vector (length rows).
    pub u: Vec<f64>,
    /// Right singular vector (length cols).
    pub v: Vec<f64>,
}

/// The `k` largest singular triplets of m [rows, cols], largest first (exact for matrices of rank
/// ≤ k, e.g. a LoRA update of rank r with k ≥ r; otherwise converged by `iters` block power steps).
pub fn top_singular(m: &Tensor, k: usize, iters: usize) -> Result<Vec<Singular>> {
    let (rows, cols) = m.dims2()?;
    let k = k.min(rows).min(cols);
    let a: Vec<f64> = m.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    // Block power iteration on MᵀM with a few extra vectors, stopped once the top-k Ritz values
    // settle (at once for a matrix of rank <= k + 4, such as a LoRA update).
    let p = (k + 4).min(cols);
    let mut v: Vec<Vec<f64>> = (0..p).map(|j| start_vector(cols, j)).collect();
    orthonormalize(&mut v);
    let mut prev: Vec<f64> = vec![];
    for _ in 0..iters.max(1) {
        let mv: Vec<Vec<f64>> = v.iter().map(|x| mat_vec(&a, rows, cols, x)).collect();
        v = mv.iter().map(|y| mat_t_vec(&a, rows, cols, y)).collect();
        orthonormalize(&mut v);
        let (vals, _) = ritz(&a, rows, cols, &v);
        let top: Vec<f64> = vals.iter().take(k).copied().collect();
        let settled = prev.len() == top.len()
            && top
                .iter()
                .zip(&prev)
                .all(|(x, y)| (x - y).abs() <= 1e-12 * top[0].max(1e-300));
        prev = top;
        if settled {
            break;
        }
    }
    let (vals, vecs) = ritz(&a, rows, cols, &v);
    let mut out = Vec::with_capacity(k);
    for (i, val) in vals.iter().enumerate().take(k) {
        let mut right = vec![0.0; cols];
        for (j, vj) in v.iter().enumerate() {
            axpy(&mut right, vecs[j][i], vj);
        }
        let mut left = mat_vec(&a, rows, cols, &right);
        let nl = norm(&left);
        if nl > 0.0 {
            left.iter_mut().for_each(|x| *x /= nl);
        }
        out.push(Singular {
            sigma: val.max(0.0).sqrt(),
            u: left,
            v: right,
        });
    }
    Ok(out)
}

/// Rayleigh–Ritz on the span of the orthonormal `v`: eigenvalues of Vᵀ MᵀM V = (MV)ᵀ(MV), largest
/// first, with their eigenvectors as columns in the same order.
fn ritz(a: &[f64], rows: usize, cols: usize, v: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mv: Vec<Vec<f64>> = v.iter().map(|x| mat_vec(a, rows, cols, x)).collect();
    let n = v.len();
    let g: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| dot(&mv[i], &mv[j])).collect())
        .collect();
    let (vals, vecs) = jacobi_eigen(g);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| vals[j].total_cmp(&vals[i]));
    let sorted_vals = order.iter().map(|&i| vals[i]).collect();
    let sorted_vecs = vecs
        .iter()
        .map(|row| order.iter().map(|&i| row[i]).collect())
        .collect();
    (sorted_vals, sorted_vecs)
}

/// A deterministic, well-spread start vector.
fn start_vector(n: usize, j: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let x = ((i * 7919 + j * 104_729 + 13) % 1009) as f64 / 1009.0;
            x - 0.5
        })
        .collect()
}

fn mat_vec(a: &[f64], rows: usize, cols: usize, x: &[f64]) -> Vec<f64> {
    (0..rows)
        .map(|r| dot(&a[r * cols..(r + 1) * cols], x))
        .collect()
}

fn mat_t_vec(a: &[f64], rows: usize, cols: usize, y: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; cols];
    for r in 0..rows {
        axpy(&mut out, y[r], &a[r * cols..(r + 1) * cols]);
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

/// Modified Gram–Schmidt (twice, for stability); a vector that vanishes is replaced by zeros.
fn orthonormalize(v: &mut [Vec<f64>]) {
    for _ in 0..2 {
        for i in 0..v.len() {
            for j in 0..i {
                let c = dot(&v[i], &v[j]);
                let vj = v[j].clone();
                axpy(&mut v[i], -c, &vj);
            }
            let n = norm(&v[i]);
            if n > 1e-300 {
                v[i].iter_mut().for_each(|x| *x /= n);
            } else {
                v[i].iter_mut().for_each(|x| *x = 0.0);
            }
        }
    }
}

/// Eigenvalues and eigenvectors (columns) of a small symmetric matrix by cyclic Jacobi rotations.
fn jacobi_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i][i] * a[i][i]).sum::<f64>().max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (rp, rq) = (a[p].clone(), a[q].clone());
                for (k, (x, y)) in rp.iter().zip(&rq).enumerate() {
                    a[p][k] = c * x - s * y;
                    a[q][k] = s * x + c * y;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}
