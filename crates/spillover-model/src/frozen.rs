//! Matrix products with a frozen weight for training. candle's matmul backward always computes the
//! gradient of both operands; for LoRA the base weights and the unembedding are constants, so that
//! doubles the backward cost for nothing. `frozen_matmul` runs the same product as a custom op whose
//! backward returns only the input's gradient (dx = dy · W).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Storage, Tensor};

struct FrozenMatmul {
    /// [out, in]
    weight: Tensor,
}

/// The input's data as a tensor (the custom-op interface hands over raw storage).
fn input_tensor(storage: &CpuStorage, layout: &Layout) -> Result<Tensor> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("frozen_matmul needs a contiguous input".into()))?;
    let dev = candle_core::Device::Cpu;
    match storage {
        CpuStorage::F32(v) => Tensor::from_slice(&v[start..end], layout.shape(), &dev),
        CpuStorage::F16(v) => Tensor::from_slice(&v[start..end], layout.shape(), &dev),
        CpuStorage::BF16(v) => Tensor::from_slice(&v[start..end], layout.shape(), &dev),
        CpuStorage::F64(v) => Tensor::from_slice(&v[start..end], layout.shape(), &dev),
        _ => candle_core::bail!("frozen_matmul: unsupported dtype"),
    }
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = input_tensor(storage, layout)?.matmul(&self.weight.t()?)?;
        let shape = y.shape().clone();
        let (st, _) = y.storage_and_layout();
        match &*st {
            Storage::Cpu(c) => Ok((c.clone(), shape)),
            _ => candle_core::bail!("frozen_matmul: expected CPU storage"),
        }
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

/// x [n, in] · Wᵀ → [n, out]. When x takes part in autograd on the CPU and W does not, W gets no
/// gradient computed; otherwise this is a plain matmul.
pub fn frozen_matmul(x: &Tensor, weight: &Tensor) -> Result<Tensor> {
    if x.track_op() && !weight.track_op() && x.device().is_cpu() {
        x.contiguous()?.apply_op1(FrozenMatmul {
            weight: weight.clone(),
        })
    } else {
        x.matmul(&weight.t()?)
    }
}
