//! Linear layers in PyTorch's layout (weight [out, in]); LoRA adapters attach here.

use candle_core::{Module, Result, Tensor};

/// y = x Wᵀ + b, with W stored as [out, in] (PyTorch's nn.Linear layout).
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear { weight, bias }
    }
    pub fn out_dim(&self) -> usize {
        self.weight.dims()[0]
    }
}

impl Module for Linear {
    /// x: [..., in] → [..., out], as one matrix product over all leading dimensions.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (lead, inp) = dims.split_at(dims.len() - 1);
        let rows: usize = lead.iter().product();
        let x2 = x.reshape((rows, inp[0]))?;
        let mut y = x2.matmul(&self.weight.t()?)?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        let mut out = lead.to_vec();
        out.push(self.out_dim());
        y.reshape(out)
    }
}

