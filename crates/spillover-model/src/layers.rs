//! Building blocks shared by the architectures: linear layers, norms, rotary embeddings and the
//! attention core. Fused candle kernels are used for inference; when a tensor takes part in autograd
//! (`track_op()`), the differentiable compositions are used instead so training works through them.

use candle_core::{DType, Device, Module, Result, Tensor, D};

pub use crate::linear::Linear;

/// RMSNorm: x / sqrt(mean(x²) + eps) · scale, computed in f32. For Gemma the stored weight w is
/// turned into the scale (1 + w) once at load.
#[derive(Clone, Debug)]
pub struct RmsNorm {
    pub scale: Tensor,
    pub eps: f64,
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let xf = x.to_dtype(DType::F32)?;
        let s = self.scale.to_dtype(DType::F32)?;
        let y = if xf.track_op() || s.track_op() {
            candle_nn::ops::rms_norm_slow(&xf, &s, self.eps as f32)?
        } else {
            candle_nn::ops::rms_norm(&xf.contiguous()?, &s, self.eps as f32)?
        };
        y.to_dtype(dtype)
    }
}

/// LayerNorm with weight and bias (GPT-2).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let eps = self.eps as f32;
        if x.track_op() || self.weight.track_op() || self.bias.track_op() {
            candle_nn::ops::layer_norm_slow(x, &self.weight, &self.bias, eps)
        } else {
            candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, eps)
        }
    }
}

/// Softmax over the last dimension (fused when no gradient is needed).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if x.track_op() {
        candle_nn::ops::softmax(x, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(&x.contiguous()?)
    }
}

/// tanh-approximated GELU (HF `gelu_new` / `gelu_pytorch_tanh`).
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    x.gelu()
}

/// cap · tanh(x / cap) (Gemma soft-capping).
pub fn softcap(x: &Tensor, cap: f64) -> Result<Tensor> {
    ((x / cap)?.tanh()? * cap)?.contiguous()
}

/// Rotary embedding tables for one batch: cos and sin of shape [b, 1, t, head_dim] for the given
/// absolute positions (HF's rotate-half layout: the frequencies repeat for both halves).
pub struct Rotary {
    pub cos: Tensor,
    pub sin: Tensor,
}

impl Rotary {
    pub fn new(
        positions: &[Vec<u32>],
        head_dim: usize,
        theta: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let b = positions.len();
        let t = positions.first().map_or(0, Vec::len);
        let half = head_dim / 2;
        // inv_freq in f32 as HF computes it, angles in f32 (pos · inv_freq).
        let inv: Vec<f32> = (0..half)
            .map(|i| 1.0 / (theta.powf((2 * i) as f64 / head_dim as f64) as f32))
            .collect();
        let mut cos = Vec::with_capacity(b * t * head_dim);
        let mut sin = Vec::with_capacity(b * t * head_dim);
        for row in positions {
            for &p in row {
                for _half in 0..2 {
                    for f in &inv {
                        let a = p as f32 * f;
                        cos.push(a.cos());
                        sin.push(a.sin());
                    }
                }
            }
        }
        let shape = (b, 1, t, head_dim);
        Ok(Rotary {
            cos: Tensor::from_vec(cos, shape, device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(sin, shape, device)?.to_dtype(dtype)?,
        })
    }

    /// x: [b, h, t, d] → x·cos + rotate_half(x)·sin
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let d = x.dim(D::Minus1)?;
        let x1 = x.narrow(D::Minus1, 0, d / 2)?;
        let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
        let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        x.broadcast_mul(&self.cos)? + rot.broadcast_mul(&self.sin)?
    }
}

/// Which keys each query may attend to, for one forward call: key validity (padding) for the whole
/// context (cached + new) and the index of the first new query in that context.
pub struct MaskSpec {
    /// [b][past + t]: false for padding.
    pub key_valid: Vec<Vec<bool>>,
    /// Number of positions already in the KV cache.
    pub past: usize,
    /// Number of new (query) positions.
    pub t: usize,
}

impl MaskSpec {
    /// Additive mask [b, 1, t, past + t]: 0 where allowed, the dtype's minimum where not (HF uses the
    /// minimum rather than -inf, so a fully masked row becomes uniform instead of NaN).
    pub fn build(&self, window: Option<usize>, dtype: DType, device: &Device) -> Result<Tensor> {
        let b = self.key_valid.len();
        let total = self.past + self.t;
        let neg = match dtype {
            DType::F16 => f32::from(half::f16::MIN),
            DType::BF16 => f32::from(half::bf16::MIN),
            _ => f32::MIN,
        };
        let mut m = vec![0f32; b * self.t * total];
        for (bi, valid) in self.key_valid.iter().enumerate() {
            for qi in 0..self.t {
                let q = self.past + qi;
                let row = &mut m[(bi * self.t + qi) * total..][..total];
                for (k, slot) in row.iter_mut().enumerate() {
                    let causal = k <= q;
                    let in_window = window.is_none_or(|w| q - k.min(q) < w);
                    if !(causal && in_window && valid[k]) {
                        *slot = neg;
                    }
                }
            }
        }
        Tensor::from_vec(m, (b, 1, self.t, total), device)?.to_dtype(dtype)
    }
}

/// Keys and values of one layer for the positions seen so far: [b, kv_heads, T, d].
#[derive(Default, Clone)]
pub struct LayerCache {
    pub k: Option<Tensor>,
    pub v: Option<Tensor>,
}

impl LayerCache {
    /// Appends the new keys/values and returns the full ones.
    pub fn append(&mut self, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        let k = match self.k.take() {
            Some(old) => Tensor::cat(&[&old, &k], 2)?,
            None => k,
        };
        let v = match self.v.take() {
            Some(old) => Tensor::cat(&[&old, &v], 2)?,
            None => v,
        };
        self.k = Some(k.clone());
        self.v = Some(v.clone());
        Ok((k, v))
    }

    pub fn len(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.dims()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The KV cache of a whole model.
#[derive(Default, Clone)]
pub struct KvCache {
    pub layers: Vec<LayerCache>,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        KvCache {
            layers: vec![LayerCache::default(); layers],
        }
    }
    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Keeps only the batch rows in `rows` (finished sequences leave the batch).
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        for l in &mut self.layers {
            if let Some(k) = &l.k {
                l.k = Some(k.index_select(rows, 0)?);
            }
            if let Some(v) = &l.v {
                l.v = Some(v.index_select(rows, 0)?);
            }
        }
        Ok(())
    }
}
