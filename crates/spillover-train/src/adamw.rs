//! AdamW exactly as torch.optim.AdamW computes it: decoupled weight decay (θ ← θ − lr·λ·θ), then
//! θ ← θ − lr · m̂ / (√v̂ + ε) with bias-corrected moments. The state is exposed for checkpoints.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// torch's defaults, with the learning rate set by the caller.
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// First and second moment estimates of one variable.
pub struct Moments {
    pub m: Tensor,
    pub v: Tensor,
}

impl Moments {
    fn zeros(like: &Tensor) -> Result<Self> {
        Ok(Moments {
            m: like.zeros_like()?,
            v: like.zeros_like()?,
        })
    }
}

pub struct AdamW {
    pub cfg: AdamWConfig,
    pub vars: Vec<Var>,
    pub moments: Vec<Moments>,
    /// Steps taken so far (t in the bias corrections).
    pub step: u64,
}

impl AdamW {
    pub fn new(vars: Vec<Var>, cfg: AdamWConfig) -> Result<Self> {
        let moments = vars
            .iter()
            .map(|v| Moments::zeros(v.as_tensor()))
            .collect::<Result<_>>()?;
        Ok(AdamW {
            cfg,
            vars,
            moments,
            step: 0,
        })
    }

    /// One update with learning rate `lr` (from the schedule) and the given gradients, each
    /// multiplied by `grad_scale` (gradient clipping and accumulation averaging).
    pub fn step(&mut self, grads: &[Tensor], lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let c = &self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.step as i32);
        let bc2 = 1.0 - c.beta2.powi(self.step as i32);
        for ((var, m), g) in self.vars.iter().zip(self.moments.iter_mut()).zip(grads) {
            let g = (g * grad_scale)?;
            m.m = ((&m.m * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            m.v = ((&m.v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let theta = (var.as_tensor() * (1.0 - lr * c.weight_decay))?;
            let denom = ((&m.v / bc2)?.sqrt()? + c.eps)?;
            let update = ((&m.m / bc1)? / denom)?;
            var.set(&(theta - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// Gradients of every variable from a backward pass (zeros where a variable got none).
    pub fn grads_of(&self, store: &GradStore) -> Result<Vec<Tensor>> {
        self.vars
            .iter()
            .map(|v| match store.get(v.as_tensor()) {
                Some(g) => Ok(g.clone()),
                None => v.as_tensor().zeros_like(),
            })
            .collect()
    }
}

/// Global L2 norm of the gradients and the factor torch's clip_grad_norm_ would scale them by
/// (min(1, max_norm / (norm + 1e-6))).
pub fn clip_factor(grads: &[Tensor], max_norm: Option<f64>) -> Result<(f64, f64)> {
    let mut sq = 0f64;
    for g in grads {
        sq += g
            .sqr()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
    }
    let norm = sq.sqrt();
    let factor = match max_norm {
        Some(m) => (m / (norm + 1e-6)).min(1.0),
        None => 1.0,
    };
    Ok((norm, factor))
}
