//! Multinomial logistic regression, trained full-batch with L-BFGS for a fixed number of
//! iterations: deterministic (every sum has a fixed order whatever the number of threads), so
//! the same data gives the same weights bit for bit.
//!
//! The loss and gradient run on all cores: the rows' probabilities are computed in parallel
//! (each row on its own), and the gradient is split by feature column, each column summing the
//! rows in order. Dot products keep eight partial sums (lanes) combined in a fixed order, which
//! the compiler turns into vector instructions.
//!
//! Objective: mean cross-entropy + ½ Σ_j l2_j · Σ_c W_cj² (a penalty per feature column; the
//! bias is not penalised), on standardised features.

/// A dense row-major matrix of training features.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    /// Builds a matrix from equal-length rows.
    pub fn from_rows(rows: &[Vec<f64>]) -> Matrix {
        let cols = rows.first().map_or(0, Vec::len);
        assert!(
            rows.iter().all(|r| r.len() == cols),
            "rows of unequal length"
        );
        Matrix {
            rows: rows.len(),
            cols,
            data: rows.concat(),
        }
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// `x` with each column shifted by `mean` and divided by `scale` (as from [`standardizer`]).
pub fn standardize(x: &Matrix, mean: &[f64], scale: &[f64]) -> Matrix {
    let mut z = x.clone();
    for row in z.data.chunks_mut(x.cols.max(1)) {
        for (v, (m, s)) in row.iter_mut().zip(mean.iter().zip(scale)) {
            *v = (*v - m) / s;
        }
    }
    z
}

/// Per-feature mean and scale (population standard deviation; 1 for constant features).
pub fn standardizer(x: &Matrix) -> (Vec<f64>, Vec<f64>) {
    let n = x.rows.max(1) as f64;
    let mut mean = vec![0.0; x.cols];
    for i in 0..x.rows {
        for (m, v) in mean.iter_mut().zip(x.row(i)) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0; x.cols];
    for i in 0..x.rows {
        for ((s, v), m) in var.iter_mut().zip(x.row(i)).zip(&mean) {
            *s += (v - m) * (v - m);
        }
    }
    let scale = var
        .into_iter()
        .map(|s| {
            let sd = (s / n).sqrt();
            if sd > 1e-12 {
                sd
            } else {
                1.0
            }
        })
        .collect();
    (mean, scale)
}

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// L2 penalty on the weights of each feature (one entry per column).
    pub l2: Vec<f64>,
    /// L-BFGS iterations (fixed; stops earlier only when the gradient vanishes).
    pub iterations: usize,
    /// L-BFGS memory (pairs of steps kept).
    pub memory: usize,
}

/// Weights `k × d` (row per class) and biases.
#[derive(Debug, Clone, PartialEq)]
pub struct Softmax {
    pub classes: usize,
    pub weights: Vec<f64>,
    pub bias: Vec<f64>,
}

impl Softmax {
    /// Class probabilities for one (standardised) feature row.
    pub fn probs(&self, x: &[f64]) -> Vec<f64> {
        let d = x.len();
        let logits: Vec<f64> = (0..self.classes)
            .map(|c| self.bias[c] + dot(&self.weights[c * d..(c + 1) * d], x))
            .collect();
        softmax(&logits)
    }
}

/// Partial sums of [`dot`]: the products of element `i` go to lane `i % LANES`.
const LANES: usize = 8;

/// Σ a_i·b_i over the common length, in a fixed order: eight lanes, then the lanes pairwise.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ta.iter().zip(tb).enumerate() {
        acc[l] += x * y;
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// What the fit reports besides the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitReport {
    pub iterations_run: usize,
    pub final_loss: f64,
}

/// Rows per parallel task of [`loss_grad`].
const ROW_CHUNK: usize = 64;
/// Feature columns per parallel task of [`loss_grad`].
const COL_CHUNK: usize = 128;

/// Loss and gradient at `theta` = [W (k·d), b (k)].
fn loss_grad(x: &Matrix, y: &[usize], k: usize, l2: &[f64], theta: &[f64]) -> (f64, Vec<f64>) {
    use rayon::prelude::*;
    let d = x.cols;
    let n = x.rows as f64;
    let (w, b) = theta.split_at(k * d);
    // Per row: its loss term and the residuals (p_c − [c = y]) / n, row-major [rows, k].
    let mut resid = vec![0.0; x.rows * k];
    let mut row_loss = vec![0.0; x.rows];
    resid
        .par_chunks_mut(ROW_CHUNK * k)
        .zip(row_loss.par_chunks_mut(ROW_CHUNK))
        .enumerate()
        .for_each(|(chunk, (res, losses))| {
            for (j, (r, l)) in res.chunks_mut(k).zip(losses.iter_mut()).enumerate() {
                let i = chunk * ROW_CHUNK + j;
                let row = x.row(i);
                let logits: Vec<f64> = (0..k)
                    .map(|c| b[c] + dot(&w[c * d..(c + 1) * d], row))
                    .collect();
                let p = softmax(&logits);
                *l = -p[y[i]].max(1e-300).ln();
                for (c, rc) in r.iter_mut().enumerate() {
                    *rc = (p[c] - if c == y[i] { 1.0 } else { 0.0 }) / n;
                }
            }
        });
    let mut loss = row_loss.iter().sum::<f64>() / n;
    // Weight gradient, class-major [k, d]: each column block sums the rows in order.
    let mut gw = vec![0.0; k * d];
    let blocks: Vec<(usize, usize)> = (0..d)
        .step_by(COL_CHUNK)
        .map(|s| (s, (s + COL_CHUNK).min(d)))
        .collect();
    let parts: Vec<Vec<f64>> = blocks
        .par_iter()
        .map(|&(s, e)| {
            let mut g = vec![0.0; k * (e - s)];
            for i in 0..x.rows {
                let row = &x.row(i)[s..e];
                for c in 0..k {
                    let rc = resid[i * k + c];
                    for (gv, v) in g[c * (e - s)..(c + 1) * (e - s)].iter_mut().zip(row) {
                        *gv += rc * v;
                    }
                }
            }
            g
        })
        .collect();
    for (&(s, e), g) in blocks.iter().zip(&parts) {
        for c in 0..k {
            gw[c * d + s..c * d + e].copy_from_slice(&g[c * (e - s)..(c + 1) * (e - s)]);
        }
    }
    let mut grad = gw;
    for c in 0..k {
        grad.push(resid.iter().skip(c).step_by(k).sum());
    }
    for (j, (g, wv)) in grad[..k * d].iter_mut().zip(w).enumerate() {
        let lj = l2[j % d];
        *g += lj * wv;
        loss += 0.5 * lj * wv * wv;
    }
    (loss, grad)
}

/// L-BFGS two-loop recursion: the search direction −H·g from the stored (s, y) pairs.
fn direction(g: &[f64], hist: &[(Vec<f64>, Vec<f64>)]) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(hist.len());
    for (s, yv) in hist.iter().rev() {
        let a = dot(s, &q) / dot(yv, s);
        q.iter_mut().zip(yv).for_each(|(qi, yi)| *qi -= a * yi);
        alphas.push(a);
    }
    if let Some((s, yv)) = hist.last() {
        let gamma = dot(s, yv) / dot(yv, yv);
        q.iter_mut().for_each(|v| *v *= gamma);
    }
    for ((s, yv), a) in hist.iter().zip(alphas.into_iter().rev()) {
        let bcoef = dot(yv, &q) / dot(yv, s);
        q.iter_mut()
            .zip(s)
            .for_each(|(qi, si)| *qi += (a - bcoef) * si);
    }
    q.iter_mut().for_each(|v| *v = -*v);
    q
}

/// Fits `k` classes to standardised features `x` and labels `y` (each < k).
pub fn fit(x: &Matrix, y: &[usize], k: usize, opts: &FitOptions) -> (Softmax, FitReport) {
    assert_eq!(x.rows, y.len(), "one label per row");
    assert!(y.iter().all(|&c| c < k), "label out of range");
    assert_eq!(opts.l2.len(), x.cols, "one penalty per feature");
    let mut theta = vec![0.0; k * x.cols + k];
    let (mut f, mut g) = loss_grad(x, y, k, &opts.l2, &theta);
    let mut hist: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    let mut run = 0;
    while run < opts.iterations {
        let gnorm = dot(&g, &g).sqrt();
        if gnorm < 1e-10 {
            break;
        }
        run += 1;
        let mut dir = direction(&g, &hist);
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            hist.clear();
            dir = g.iter().map(|v| -v).collect();
            slope = -gnorm * gnorm;
        }
        let mut t = if hist.is_empty() {
            1.0 / gnorm.max(1.0)
        } else {
            1.0
        };
        let (mut f_new, mut g_new, mut theta_new);
        loop {
            theta_new = theta
                .iter()
                .zip(&dir)
                .map(|(a, d)| a + t * d)
                .collect::<Vec<_>>();
            (f_new, g_new) = loss_grad(x, y, k, &opts.l2, &theta_new);
            if f_new <= f + 1e-4 * t * slope || t < 1e-12 {
                break;
            }
            t *= 0.5;
        }
        let s: Vec<f64> = theta_new.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        if dot(&s, &yv) > 1e-12 {
            if hist.len() == opts.memory {
                hist.remove(0);
            }
            hist.push((s, yv));
        }
        (theta, f, g) = (theta_new, f_new, g_new);
    }
    let bias = theta.split_off(k * x.cols);
    let model = Softmax {
        classes: k,
        weights: theta,
        bias,
    };
    let report = FitReport {
        iterations_run: run,
        final_loss: f,
    };
    (model, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Matrix, Vec<usize>) {
        // Three well separated clusters in 2-D.
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for (c, (cx, cy)) in [(0.0, 3.0), (3.0, -2.0), (-3.0, -2.0)]
            .into_iter()
            .enumerate()
        {
            for j in 0..10 {
                let o = j as f64 * 0.1 - 0.45;
                rows.push(vec![cx + o, cy - o]);
                y.push(c);
            }
        }
        (Matrix::from_rows(&rows), y)
    }

    fn opts() -> FitOptions {
        FitOptions {
            l2: vec![1e-3; 2],
            iterations: 200,
            memory: 10,
        }
    }

    #[test]
    fn separable_clusters_are_classified_and_the_gradient_vanishes() {
        let (x, y) = toy();
        let (m, rep) = fit(&x, &y, 3, &opts());
        for (i, &c) in y.iter().enumerate() {
            let p = m.probs(x.row(i));
            assert!(p[c] > 0.9, "row {i}: {p:?}");
        }
        let mut theta = m.weights.clone();
        theta.extend(&m.bias);
        let (_, g) = loss_grad(&x, &y, 3, &opts().l2, &theta);
        assert!(
            dot(&g, &g).sqrt() < 1e-6,
            "not at a minimum after {} iterations",
            rep.iterations_run
        );
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let (x, y) = toy();
        let theta: Vec<f64> = (0..9).map(|i| (i as f64 * 0.37).sin()).collect();
        let l2 = [0.1, 0.3];
        let (_, g) = loss_grad(&x, &y, 3, &l2, &theta);
        for j in 0..theta.len() {
            let (mut a, mut b) = (theta.clone(), theta.clone());
            a[j] += 1e-6;
            b[j] -= 1e-6;
            let num = (loss_grad(&x, &y, 3, &l2, &a).0 - loss_grad(&x, &y, 3, &l2, &b).0) / 2e-6;
            assert!(
                (num - g[j]).abs() < 1e-6,
                "coordinate {j}: {num} vs {}",
                g[j]
            );
        }
    }

    #[test]
    fn the_loss_and_gradient_do_not_depend_on_the_number_of_threads() {
        // Enough rows and columns for several row chunks and column blocks.
        let rows: Vec<Vec<f64>> = (0..300)
            .map(|i| {
                (0..301)
                    .map(|j| ((i * 31 + j * 7) as f64 * 0.013).sin())
                    .collect()
            })
            .collect();
        let x = Matrix::from_rows(&rows);
        let y: Vec<usize> = (0..300).map(|i| i % 3).collect();
        let theta: Vec<f64> = (0..3 * 301 + 3)
            .map(|i| (i as f64 * 0.11).cos() * 0.1)
            .collect();
        let l2 = vec![0.1; 301];
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| loss_grad(&x, &y, 3, &l2, &theta))
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, run(8));
    }

    #[test]
    fn dot_adds_every_product_including_the_tail() {
        let a: Vec<f64> = (1..=19).map(f64::from).collect();
        let b = vec![2.0; 19];
        assert_eq!(dot(&a, &b), 2.0 * 190.0);
        assert_eq!(dot(&a[..3], &b), 12.0);
        assert_eq!(dot(&[], &b), 0.0);
    }

    #[test]
    fn fitting_twice_gives_identical_weights() {
        let (x, y) = toy();
        assert_eq!(fit(&x, &y, 3, &opts()).0, fit(&x, &y, 3, &opts()).0);
    }

    #[test]
    fn standardised_columns_have_zero_mean_and_unit_scale() {
        let x = Matrix::from_rows(&[vec![1.0, 5.0], vec![3.0, 5.0], vec![5.0, 5.0]]);
        let (mean, scale) = standardizer(&x);
        assert_eq!(mean, vec![3.0, 5.0]);
        assert!((scale[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(scale[1], 1.0, "a constant column keeps scale 1");
    }
}
