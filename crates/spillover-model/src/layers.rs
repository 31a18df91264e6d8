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
    } else if let Some(y) = crate::fused::softmax_last(x)? {
        Ok(y)
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
    /// Rows that pack a prefix tree (one context followed by several continuations of it); `None`
    /// for ordinary sequences.
    pub branches: Option<Branches>,
}

/// The layout of rows that pack a shared context (the trunk) and several continuations of it
/// (branches) one after the other: a key is visible to a query when it comes no later in the row
/// and lies on the trunk or on the query's own branch, so every branch sees exactly the sequence
/// context + itself, as if it were alone. With no trunk (every real position on a branch j ≥ 1)
/// the mask is block-diagonal: rows that pack whole sequences (`Step::packed`).
pub struct Branches {
    /// [b][past + t]: 0 for the trunk, j ≥ 1 for the j-th branch (padding: anything).
    pub id: Vec<Vec<u32>>,
    /// [b][past + t]: each key's position in its own sequence (what sliding windows measure).
    pub pos: Vec<Vec<u32>>,
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
                    let allowed = match &self.branches {
                        None => k <= q && window.is_none_or(|w| q - k < w),
                        Some(br) => {
                            let (id, pos) = (&br.id[bi], &br.pos[bi]);
                            k <= q
                                && (id[k] == 0 || id[k] == id[q])
                                && window.is_none_or(|w| pos[q] - pos[k].min(pos[q]) < w as u32)
                        }
                    };
                    if !(allowed && valid[k]) {
                        *slot = neg;
                    }
                }
            }
        }
        Tensor::from_vec(m, (b, 1, self.t, total), device)?.to_dtype(dtype)
    }
}

/// Keys and values of one layer for the positions seen so far: [b, kv_heads, T, d].
///
/// The positions live in preallocated buffers [b, kv_heads, capacity, d]; a decode step writes its
/// keys and values in place (`slice_set`) instead of concatenating, and `k` / `v` are views of the
/// valid length only, so attention never reads unused capacity. The buffers grow (doubling) when a
/// step does not fit. A clone gets its own copy of the valid positions, so clones never write into
/// one buffer.
#[derive(Default)]
pub struct LayerCache {
    pub k: Option<Tensor>,
    pub v: Option<Tensor>,
    kbuf: Option<Tensor>,
    vbuf: Option<Tensor>,
    len: usize,
    /// Positions to allocate room for at the first append (0: exactly what the first step needs).
    reserve: usize,
    /// Keep nothing: `append` hands the step's keys and values back (see `KvCache::discarding`).
    discard: bool,
}

impl Clone for LayerCache {
    fn clone(&self) -> Self {
        // A contiguous copy of the valid positions; when the view already is contiguous it is shared,
        // which is safe: the clone's buffer then has no spare room, so its next append reallocates.
        let copy = |t: &Option<Tensor>| {
            t.as_ref()
                .map(|t| t.contiguous().expect("copying a KV cache"))
        };
        let (k, v) = (copy(&self.k), copy(&self.v));
        LayerCache {
            kbuf: k.clone(),
            vbuf: v.clone(),
            k,
            v,
            len: self.len,
            reserve: self.reserve,
            discard: self.discard,
        }
    }
}

impl LayerCache {
    /// Appends the new keys/values ([b, kv_heads, t, d]) and returns the full ones.
    pub fn append(&mut self, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        if self.discard {
            return Ok((k, v));
        }
        let t = k.dims()[2];
        let need = self.len + t;
        let cap = self.kbuf.as_ref().map_or(0, |b| b.dims()[2]);
        if self.kbuf.is_none() && self.reserve <= t {
            // First step with no room asked for: the step's own tensors become the buffers.
            self.kbuf = Some(k.contiguous()?);
            self.vbuf = Some(v.contiguous()?);
        } else if need > cap {
            let new_cap = need.max(2 * cap).max(self.reserve);
            self.kbuf = Some(grow(self.k.as_ref(), &k, new_cap)?);
            self.vbuf = Some(grow(self.v.as_ref(), &v, new_cap)?);
        } else {
            let (kb, vb) = (self.kbuf.as_ref().unwrap(), self.vbuf.as_ref().unwrap());
            kb.slice_set(&k.contiguous()?, 2, self.len)?;
            vb.slice_set(&v.contiguous()?, 2, self.len)?;
        }
        self.len = need;
        let k = self.kbuf.as_ref().unwrap().narrow(2, 0, need)?;
        let v = self.vbuf.as_ref().unwrap().narrow(2, 0, need)?;
        self.k = Some(k.clone());
        self.v = Some(v.clone());
        Ok((k, v))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Takes `kb` / `vb` [b, kv_heads, capacity, d] as the buffers, `len` positions of them valid.
    fn set_buffers(&mut self, kb: Tensor, vb: Tensor, len: usize) -> Result<()> {
        self.k = Some(kb.narrow(2, 0, len)?);
        self.v = Some(vb.narrow(2, 0, len)?);
        self.kbuf = Some(kb);
        self.vbuf = Some(vb);
        self.len = len;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room for `positions` positions in all, allocated at the first append or the next growth.
    pub fn reserve(&mut self, positions: usize) {
        self.reserve = self.reserve.max(positions);
    }
}

/// A new buffer of `cap` positions holding `old` (the valid positions so far) followed by `new`.
fn grow(old: Option<&Tensor>, new: &Tensor, cap: usize) -> Result<Tensor> {
    let (b, h, t, d) = new.dims4()?;
    let used = old.map_or(0, |o| o.dims()[2]) + t;
    let mut parts: Vec<Tensor> = old.into_iter().cloned().collect();
    parts.push(new.clone());
    if cap > used {
        parts.push(Tensor::zeros(
            (b, h, cap - used, d),
            new.dtype(),
            new.device(),
        )?);
    }
    Tensor::cat(&parts, 2)
}

/// The KV cache of a whole model.
///
/// A cache that `stack` or `select_rows` built keeps the rows of all layers in one allocation
/// (one for keys, one for values), made zeroed and written only where there are cached positions:
/// a row's leading padding (`lead`), which its mask never attends to, is neither written nor
/// copied, so on the CPU the operating system never backs it with memory.
#[derive(Default, Clone)]
pub struct KvCache {
    pub layers: Vec<LayerCache>,
    /// Per batch row, the leading positions that are padding and hold no data (empty: none).
    lead: Vec<usize>,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        KvCache {
            layers: (0..layers).map(|_| LayerCache::default()).collect(),
            lead: Vec::new(),
        }
    }
    /// A cache that allocates room for `positions` positions per row at its first step, so the
    /// decode steps that follow write in place.
    pub fn with_capacity(layers: usize, positions: usize) -> Self {
        let mut c = Self::new(layers);
        c.reserve(positions);
        c
    }
    /// A cache that keeps nothing, for one whole-sequence forward whose keys and values are not
    /// needed afterwards: the forward takes the same fast attention paths as a cached one (they
    /// serve only incremental forwards without hooks) without holding every layer's keys and
    /// values until it ends.
    pub fn discarding(layers: usize) -> Self {
        let mut c = Self::new(layers);
        for l in &mut c.layers {
            l.discard = true;
        }
        c
    }
    /// Room for `positions` positions in all (see `LayerCache::reserve`).
    pub fn reserve(&mut self, positions: usize) {
        for l in &mut self.layers {
            l.reserve(positions);
        }
    }
    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Rows in the batch (0 before the first step).
    pub fn batch_size(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.k.as_ref())
            .map_or(0, |k| k.dims()[0])
    }
    /// Leading padding positions of batch row `row` (they hold zeros, or nothing at all).
    pub fn lead(&self, row: usize) -> usize {
        self.lead.get(row).copied().unwrap_or(0)
    }

    /// Keeps only the batch rows `rows`, in that order (finished sequences leave the batch); an
    /// index may repeat, which copies a row (one cached context serving several continuations).
    /// Only each row's positions after its leading padding are copied.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        let n = self.batch_size();
        if let Some(&r) = rows.iter().find(|&&r| r as usize >= n) {
            candle_core::bail!("KvCache::select_rows: row {r} of a batch of {n}");
        }
        let Some(kb) = self.layers.first().and_then(|l| l.kbuf.clone()) else {
            return Ok(());
        };
        let (_, kv_heads, cap, d) = kb.dims4()?;
        let lead: Vec<usize> = rows.iter().map(|&r| self.lead(r as usize)).collect();
        let (kbig, vbig) = Self::zeroed(self.layers.len(), rows.len(), kv_heads, cap, d, &kb)?;
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let (Some(ko), Some(vo)) = (&layer.kbuf, &layer.vbuf) else {
                candle_core::bail!("KvCache::select_rows: layer {l} holds no positions");
            };
            let (kb, vb) = (kbig.get(l)?, vbig.get(l)?);
            let len = layer.len;
            for (i, (&r, &from)) in rows.iter().zip(&lead).enumerate() {
                if from < len {
                    let src = |t: &Tensor| t.narrow(0, r as usize, 1)?.narrow(2, from, len - from);
                    kb.narrow(0, i, 1)?
                        .slice_set(&src(ko)?.contiguous()?, 2, from)?;
                    vb.narrow(0, i, 1)?
                        .slice_set(&src(vo)?.contiguous()?, 2, from)?;
                }
            }
            layer.set_buffers(kb, vb, len)?;
        }
        self.lead = lead;
        Ok(())
    }

    /// One cache holding the rows of `parts` in order (e.g. prompts prefilled in groups of similar
    /// length, then decoded together). A part with fewer positions is left-padded (the padding is
    /// the rows' `lead`, which their masks must mark invalid); room is made for `capacity`
    /// positions in all.
    pub fn stack(parts: &[KvCache], capacity: usize) -> Result<KvCache> {
        let len = parts.iter().map(KvCache::len).max().unwrap_or(0);
        let layers = parts.first().map_or(0, |p| p.layers.len());
        let Some(k0) = parts.first().and_then(|p| p.layers.first()?.k.clone()) else {
            candle_core::bail!("KvCache::stack: nothing to stack")
        };
        let (_, kv_heads, _, d) = k0.dims4()?;
        let rows: usize = parts.iter().map(KvCache::batch_size).sum();
        let cap = capacity.max(len);
        let (kbig, vbig) = Self::zeroed(layers, rows, kv_heads, cap, d, &k0)?;
        let mut out = KvCache::with_capacity(layers, capacity);
        for (l, dst) in out.layers.iter_mut().enumerate() {
            let (kb, vb) = (kbig.get(l)?, vbig.get(l)?);
            let mut row0 = 0;
            for p in parts {
                let (Some(k), Some(v)) = (&p.layers[l].k, &p.layers[l].v) else {
                    candle_core::bail!("KvCache::stack: a part has no cached positions")
                };
                let (bp, _, tp, _) = k.dims4()?;
                kb.narrow(0, row0, bp)?
                    .slice_set(&k.contiguous()?, 2, len - tp)?;
                vb.narrow(0, row0, bp)?
                    .slice_set(&v.contiguous()?, 2, len - tp)?;
                row0 += bp;
            }
            dst.set_buffers(kb, vb, len)?;
        }
        out.lead = parts
            .iter()
            .flat_map(|p| (0..p.batch_size()).map(move |r| len - p.len() + p.lead(r)))
            .collect();
        Ok(out)
    }

    /// Zeroed key and value buffers [layers, rows, kv_heads, cap, d] like `like` (one allocation
    /// each; on the CPU its pages are only backed by memory once written).
    fn zeroed(
        layers: usize,
        rows: usize,
        kv_heads: usize,
        cap: usize,
        d: usize,
        like: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let shape = (layers, rows, kv_heads, cap, d);
        let z = || Tensor::zeros(shape, like.dtype(), like.device());
        Ok((z()?, z()?))
    }
}
