//! Linear layers in PyTorch's layout (weight [out, in]), with an optional LoRA adapter:
//! y = x Wᵀ + b + scale · dropout(x) Aᵀ Bᵀ, A: [r, in], B: [out, r] (PEFT's layout and names).

use candle_core::{Module, Result, Tensor};
use std::sync::{Arc, Mutex};

/// The random stream of LoRA dropout, shared by every adapter of a model so training can save and
/// restore one number for exact resume.
#[derive(Clone, Debug)]
pub struct DropoutRng(pub Arc<Mutex<u64>>);

impl DropoutRng {
    pub fn new(seed: u64) -> Self {
        DropoutRng(Arc::new(Mutex::new(seed)))
    }
    pub fn state(&self) -> u64 {
        *self.0.lock().expect("dropout rng lock")
    }
    pub fn set_state(&self, s: u64) {
        *self.0.lock().expect("dropout rng lock") = s;
    }
    /// A keep-mask of `n` values: 0 with probability `p`, else 1/(1−p) (inverted dropout).
    fn mask(&self, n: usize, p: f32) -> Vec<f32> {
        let mut s = self.0.lock().expect("dropout rng lock");
        let keep = 1.0 / (1.0 - p);
        (0..n)
            .map(|_| {
                *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = *s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let u = ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32;
                if u < p {
                    0.0
                } else {
                    keep
                }
            })
            .collect()
    }
}

/// A LoRA adapter on one linear layer.
#[derive(Clone, Debug)]
pub struct Lora {
    /// [r, in]
    pub a: Tensor,
    /// [out, r]
    pub b: Tensor,
    /// alpha / r (or alpha / sqrt(r) with rsLoRA).
    pub scale: f64,
    pub dropout: f32,
    /// Dropout is applied only while training and when a stream is attached.
    pub training: bool,
    pub rng: Option<DropoutRng>,
    /// False: the layer behaves as the base layer (PEFT's `disable_adapter()`).
    pub enabled: bool,
    /// True while scale·BA is folded into the base weight.
    pub merged: bool,
}

impl Lora {
    /// scale · B A: [out, in]
    pub fn delta(&self) -> Result<Tensor> {
        self.b.matmul(&self.a)? * self.scale
    }

    fn forward(&self, x2: &Tensor) -> Result<Tensor> {
        let x = match (&self.rng, self.training && self.dropout > 0.0) {
            (Some(rng), true) => {
                let mask = rng.mask(x2.elem_count(), self.dropout);
                let mask = Tensor::from_vec(mask, x2.shape(), x2.device())?.to_dtype(x2.dtype())?;
                (x2 * mask)?
            }
            _ => x2.clone(),
        };
        x.matmul(&self.a.t()?)?.matmul(&self.b.t()?)? * self.scale
    }
}

/// y = x Wᵀ + b (+ LoRA), with W stored as [out, in] (PyTorch's nn.Linear layout).
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<Lora>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear {
            weight,
            bias,
            lora: None,
        }
    }
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }
    pub fn in_dim(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Folds the adapter into the base weight (W += scale·BA); a no-op when already merged.
    pub fn merge(&mut self) -> Result<()> {
        if let Some(l) = self.lora.as_mut().filter(|l| !l.merged) {
            self.weight = (&self.weight + l.delta()?.to_dtype(self.weight.dtype())?)?;
            l.merged = true;
        }
        Ok(())
    }

    /// Takes the adapter back out of the base weight (W −= scale·BA).
    pub fn unmerge(&mut self) -> Result<()> {
        if let Some(l) = self.lora.as_mut().filter(|l| l.merged) {
            self.weight = (&self.weight - l.delta()?.to_dtype(self.weight.dtype())?)?;
            l.merged = false;
        }
        Ok(())
    }
}

impl Module for Linear {
    /// x: [..., in] → [..., out], as one matrix product over all leading dimensions.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (lead, inp) = dims.split_at(dims.len() - 1);
        let rows: usize = lead.iter().product();
        let x2 = x.reshape((rows, inp[0]))?;
        let mut y = crate::frozen::frozen_matmul(&x2, &self.weight)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        if let Some(l) = self.lora.as_ref().filter(|l| l.enabled && !l.merged) {
            y = (y + l.forward(&x2)?)?;
        }
        let mut out = lead.to_vec();
        out.push(self.out_dim());
        y.reshape(out)
    }
}
