//! Linear layers in PyTorch's layout (weight [out, in]), with an optional LoRA adapter:
//! y = x Wᵀ + b + scale · dropout(x) Aᵀ Bᵀ, A: [r, in], B: [out, r] (PEFT's layout and names).
//!
//! For inference a layer may hold a prepacked copy of W (`crate::packed`); `forward` uses it only
//! while it still describes `weight` (see `Linear::packed_for`), and candle's matmul otherwise.

use crate::packed::{self, PackedWeight};
use candle_core::{DType, Module, Result, Tensor};
use spillover_core::rng::SplitMix64;
use std::sync::{Arc, Mutex};

/// The random stream of LoRA dropout, shared by every adapter of a model so training can save and
/// restore one number for exact resume.
#[derive(Clone, Debug)]
pub struct DropoutRng(pub Arc<Mutex<SplitMix64>>);

impl DropoutRng {
    pub fn new(seed: u64) -> Self {
        DropoutRng(Arc::new(Mutex::new(SplitMix64::new(seed))))
    }
    /// The generator's state, which [`DropoutRng::set_state`] resumes from.
    pub fn state(&self) -> u64 {
        self.0.lock().expect("dropout rng lock").state()
    }
    pub fn set_state(&self, s: u64) {
        *self.0.lock().expect("dropout rng lock") = SplitMix64::new(s);
    }
    /// A keep-mask of `n` values: 0 with probability `p`, else 1/(1−p) (inverted dropout).
    fn mask(&self, n: usize, p: f32) -> Vec<f32> {
        let mut s = self.0.lock().expect("dropout rng lock");
        let keep = 1.0 / (1.0 - p);
        (0..n)
            .map(|_| if s.unit_f32() < p { 0.0 } else { keep })
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

/// Largest number of rows (positions × batch) for which `forward` uses the packed weight. The
/// packed product was measured faster than candle's from 1 to 8,192 rows on every SmolLM2 shape
/// (`examples/packed_bench.rs`; the CPU engine's forwards stay within 2,048 positions); above
/// this bound, untested, candle's path is kept.
pub const PACKED_MAX_ROWS: usize = 8192;

/// y = x Wᵀ + b (+ LoRA), with W stored as [out, in] (PyTorch's nn.Linear layout).
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<Lora>,
    /// A prepacked copy of the weight it was built from (`pack`); ignored once `weight` is
    /// another tensor.
    packed: Option<Arc<PackedWeight>>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear {
            weight,
            bias,
            lora: None,
            packed: None,
        }
    }
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }
    pub fn in_dim(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Builds the packed copy of the current weight for inference when it can serve: an f32 CPU
    /// weight that is not a `Var`, on a CPU with the AVX-512 kernel. Returns whether a pack is
    /// now held (any earlier pack is dropped first).
    pub fn pack(&mut self) -> Result<bool> {
        self.packed = None;
        let w = &self.weight;
        if packed::kernel_available()
            && w.device().is_cpu()
            && w.dtype() == DType::F32
            && !w.is_variable()
        {
            self.packed = Some(Arc::new(PackedWeight::new(w)?));
        }
        Ok(self.packed.is_some())
    }

    /// Drops the packed copy (its memory: as much as the weight's).
    pub fn drop_pack(&mut self) {
        self.packed = None;
    }

    /// The packed copy, whether or not it still describes `weight`.
    pub fn packed_weight(&self) -> Option<&Arc<PackedWeight>> {
        self.packed.as_ref()
    }

    /// The pack `forward` uses for the 2-D input `x2` [rows, in]: only when it was built from the
    /// current `weight` tensor (same `TensorId`: a merged adapter, an edited or replaced weight
    /// all make a new tensor), the weight is not a `Var`, x is f32 on the CPU, 1 ≤ rows ≤
    /// `PACKED_MAX_ROWS`, x takes no part in autograd (training keeps candle's path and its
    /// gradients), and `kernel` (the CPU runs the AVX-512 kernel; a parameter so the choice can be
    /// tested with it off).
    pub fn packed_for(&self, x2: &Tensor, kernel: bool) -> Option<&PackedWeight> {
        let p = self.packed.as_deref()?;
        let rows = x2.dims().first().copied().unwrap_or(0);
        let usable = kernel
            && p.source() == Some(self.weight.id())
            && !self.weight.is_variable()
            && x2.device().is_cpu()
            && x2.dtype() == DType::F32
            && x2.rank() == 2
            && (1..=PACKED_MAX_ROWS).contains(&rows)
            && !x2.track_op();
        usable.then_some(p)
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
        let mut y = match self.packed_for(&x2, packed::kernel_available()) {
            Some(p) => p.forward(&x2)?,
            None => crate::frozen::frozen_matmul(&x2, &self.weight)?,
        };
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
