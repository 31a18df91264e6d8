//! A weight-prepacked f32 matrix product for inference: y = x Wᵀ with W [out, in] fixed.
//!
//! candle's CPU matmul (the `gemm` crate) copies the right-hand side into its own panel layout on
//! every call. When x has few rows (decoding: one row per sequence of the batch) that copy costs
//! about as much as the arithmetic. `PackedWeight` makes the copy once, when the model is prepared
//! for inference (`Model::use_inference_layout`), and runs the product on it directly.
//!
//! # Layout
//!
//! W's output columns are cut into panels of [`PANEL`] = 32 columns. A panel is stored k-major: for
//! each input index k, the 32 weights W[p·32 + j, k] (j = 0..32) are one 128-byte *line*, aligned to
//! 64 bytes; the `in` lines of a panel follow each other, and panels follow each other. The last
//! panel is padded with zeros when `out` is not a multiple of 32 (its extra columns are computed and
//! never stored).
//!
//! # Kernel
//!
//! The AVX-512 microkernel computes a tile of up to [`MR`] = 12 rows × 32 columns in 24 zmm
//! accumulators: for each k it loads the panel's line (two aligned 16-float loads), broadcasts
//! x[r, k] of each of the tile's rows and does two fused multiply-adds per row. Every output is
//! one accumulator summed over k in ascending order (a sequential sum, no k blocking), then written
//! with masked stores, so the padded columns of the last panel never reach the output.
//!
//! Work is cut into tasks of one panel × one block of rows ([`rows_per_block`]: as many as keep the
//! x rows of a block within about half of the 1 MB L2 cache), handed out dynamically through an
//! atomic counter to the calling thread and helpers from rayon's global pool, at most
//! `candle_core::utils::get_num_threads()` threads in all — the same pool and thread count as
//! candle's own matmul, which never runs at the same time. The caller starts on the tasks at once
//! and helpers take what is left when they wake (the caller still waits, at the end, for every
//! helper to have run). Small products run on the calling thread alone.
//!
//! Without AVX-512F (checked once at run time) a portable loop over the same layout gives the same
//! sums (for tests and other callers; not tuned), and `Linear` keeps candle's path.

use candle_core::{CpuStorage, DType, Device, Result, Storage, Tensor, TensorId};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Output columns per panel (two zmm registers).
pub const PANEL: usize = 32;
/// Rows per microkernel tile: 12 rows × 2 zmm = 24 accumulators, plus the panel's two vectors and
/// the broadcast x value, within the 32 zmm registers (in A/B runs of
/// `examples/packed_bench.rs` as fast as 8-row tiles or faster, up to 1.7× at 64 rows).
pub const MR: usize = 12;
/// Below this many multiply-adds (m·in·out) a product runs on the calling thread only. Measured
/// with `examples/packed_bench.rs` at one row (0.1–0.9 M multiply-adds): ~45 GFLOP/s on one
/// thread, ~30–38 with a helper; from 8 rows of 576×576 (2.7 M) on, a helper is no slower and up
/// to 1.9× faster when the second core is free.
const SERIAL_MACS: usize = 1 << 20;
/// Bytes of x one row block may take (half of Zen 4's 1 MB L2; the panel takes most of the rest).
const ROW_BLOCK_BYTES: usize = 512 << 10;

/// One k-row of a panel: 32 weights, 64-byte aligned so the kernel's loads are aligned.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([f32; PANEL]);

/// W [out, in] repacked into 32-column k-major panels (see the module notes), with the id of the
/// tensor it was built from so a user can tell whether it still describes a layer's weight.
pub struct PackedWeight {
    out: usize,
    inp: usize,
    source: Option<TensorId>,
    lines: Vec<Line>,
}

impl std::fmt::Debug for PackedWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedWeight")
            .field("out", &self.out)
            .field("in", &self.inp)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// Whether this CPU runs the AVX-512 kernel (checked once).
pub fn kernel_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Workers for one product: candle's matmul thread count (`RAYON_NUM_THREADS`, else the physical
/// cores), at most the size of rayon's global pool; read once.
fn matmul_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        candle_core::utils::get_num_threads()
            .min(rayon::current_num_threads())
            .max(1)
    })
}

/// Rows of x per task: the most (a multiple of `MR`, at least `MR`) whose `inp` floats each fit
/// in `ROW_BLOCK_BYTES`.
pub fn rows_per_block(inp: usize) -> usize {
    let rows = ROW_BLOCK_BYTES / (4 * inp.max(1));
    (rows / MR * MR).max(MR)
}

impl PackedWeight {
    /// Packs a 2-D f32 CPU tensor W [out, in] (any strides) and remembers its id.
    pub fn new(weight: &Tensor) -> Result<PackedWeight> {
        let (out, inp) = weight.dims2()?;
        if weight.dtype() != DType::F32 || !weight.device().is_cpu() {
            candle_core::bail!(
                "PackedWeight: expected an f32 CPU weight, got {:?} on {:?}",
                weight.dtype(),
                weight.device()
            );
        }
        let rows = weight.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let mut p = Self::from_rows(&rows, out, inp);
        p.source = Some(weight.id());
        Ok(p)
    }

    /// Packs W given row-major as `out` rows of `inp` values (no source tensor).
    pub fn from_rows(w: &[f32], out: usize, inp: usize) -> PackedWeight {
        assert_eq!(
            w.len(),
            out * inp,
            "PackedWeight::from_rows: w is not out × in"
        );
        let panels = out.div_ceil(PANEL);
        let mut lines = vec![Line([0.0; PANEL]); panels * inp];
        for (o, row) in w.chunks_exact(inp.max(1)).take(out).enumerate() {
            let (p, j) = (o / PANEL, o % PANEL);
            for (k, &v) in row.iter().enumerate() {
                lines[p * inp + k].0[j] = v;
            }
        }
        PackedWeight {
            out,
            inp,
            source: None,
            lines,
        }
    }

    /// Output features (rows of W).
    pub fn out_dim(&self) -> usize {
        self.out
    }

    /// Input features (columns of W).
    pub fn in_dim(&self) -> usize {
        self.inp
    }

    /// The id of the tensor this was packed from (`None` for `from_rows`).
    pub fn source(&self) -> Option<TensorId> {
        self.source
    }

    fn panels(&self) -> usize {
        self.out.div_ceil(PANEL)
    }

    /// x [m, in] (f32, CPU, any layout) · Wᵀ → a new [m, out] tensor.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (m, inp) = x.dims2()?;
        if inp != self.inp || x.dtype() != DType::F32 || !x.device().is_cpu() {
            candle_core::bail!(
                "PackedWeight::forward: expected f32 CPU x [m, {}], got {:?} {:?} on {:?}",
                self.inp,
                x.dims(),
                x.dtype(),
                x.device()
            );
        }
        let x = x.contiguous()?;
        let (storage, layout) = x.storage_and_layout();
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("PackedWeight: x not contiguous".into()))?;
        let xs = match &*storage {
            Storage::Cpu(CpuStorage::F32(v)) => &v[start..end],
            _ => candle_core::bail!("PackedWeight::forward: x is not f32 CPU storage"),
        };
        let n = m * self.out;
        let mut y: Vec<f32> = Vec::with_capacity(n);
        // SAFETY: `matmul_into` writes all n values (no need to zero them first) before the length
        // is set; xs holds m × in values.
        unsafe {
            self.matmul_into(xs, m, y.as_mut_ptr(), kernel_available());
            y.set_len(n);
        }
        drop(storage);
        Tensor::from_vec(y, (m, self.out), &Device::Cpu)
    }

    /// y [m, out] = x [m, in] · Wᵀ on row-major slices, with the AVX-512 kernel when the CPU has it.
    pub fn matmul(&self, x: &[f32], m: usize, y: &mut [f32]) {
        self.matmul_with(x, m, y, kernel_available());
    }

    /// `matmul` with the kernel chosen by the caller: `simd` false runs the portable loop (the
    /// AVX-512 kernel is used only where `kernel_available()` also holds).
    pub fn matmul_with(&self, x: &[f32], m: usize, y: &mut [f32], simd: bool) {
        assert_eq!(
            y.len(),
            m * self.out,
            "PackedWeight::matmul: y is not m × out"
        );
        // SAFETY: y has room for the m × out values.
        unsafe { self.matmul_into(x, m, y.as_mut_ptr(), simd) }
    }

    /// Writes every one of the m × out values of y (which may be uninitialized).
    ///
    /// # Safety
    /// `y` is valid for writes of m × out f32 values that nothing else accesses meanwhile.
    unsafe fn matmul_into(&self, x: &[f32], m: usize, y: *mut f32, simd: bool) {
        assert_eq!(
            x.len(),
            m * self.inp,
            "PackedWeight::matmul: x is not m × in"
        );
        if m == 0 || self.out == 0 {
            return;
        }
        let simd = simd && kernel_available();
        let block = rows_per_block(self.inp);
        let panels = self.panels();
        let tasks = m.div_ceil(block) * panels;
        let y_ptr = SyncPtr(y);
        let run = |t: usize| {
            let (b, p) = (t / panels, t % panels);
            let rows = b * block..(m.min((b + 1) * block));
            // SAFETY: task (b, p) writes only rows `rows` × columns of panel p of y, disjoint from
            // every other task's; x has the length asserted above, y the caller's m × out.
            unsafe { self.run_task(x, y_ptr, rows, p, simd) };
        };
        let threads = matmul_threads().min(tasks);
        if threads <= 1 || m * self.inp * self.out < SERIAL_MACS {
            (0..tasks).for_each(run);
            return;
        }
        // The calling thread and `threads − 1` pool workers each take the next task until none is
        // left: the caller starts at once, a helper joins whenever rayon wakes it.
        let next = AtomicUsize::new(0);
        let work = || loop {
            let t = next.fetch_add(1, Ordering::Relaxed);
            if t >= tasks {
                break;
            }
            run(t);
        };
        rayon::in_place_scope(|s| {
            for _ in 1..threads {
                s.spawn(|_| work());
            }
            work();
        });
    }

    /// Rows `rows` × panel `p` of y.
    ///
    /// # Safety
    /// `x` holds m × in values, `y` points to m × out writable values with m ≥ rows.end, and no
    /// other thread writes the same rows × panel at the same time.
    unsafe fn run_task(
        &self,
        x: &[f32],
        y: SyncPtr,
        rows: std::ops::Range<usize>,
        p: usize,
        simd: bool,
    ) {
        let panel = &self.lines[p * self.inp..(p + 1) * self.inp];
        let cols = PANEL.min(self.out - p * PANEL);
        let mut r = rows.start;
        while r < rows.end {
            let n = MR.min(rows.end - r);
            let xr = &x[r * self.inp..(r + n) * self.inp];
            let out = TileOut {
                y: y.0.add(r * self.out + p * PANEL),
                stride: self.out,
                cols,
            };
            match simd {
                #[cfg(target_arch = "x86_64")]
                true => avx512::tile(n, xr, self.inp, panel, out, r == rows.start),
                _ => portable_tile(n, xr, self.inp, panel, out),
            }
            r += n;
        }
    }
}

/// The output pointer, shared by the tasks that write disjoint parts of it.
#[derive(Clone, Copy)]
struct SyncPtr(*mut f32);
// SAFETY: tasks write disjoint elements (see `matmul_into`).
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}

/// Where a tile's results go: its rows start `stride` values apart from `y`, and `cols` values
/// of each are written.
#[derive(Clone, Copy)]
struct TileOut {
    y: *mut f32,
    stride: usize,
    cols: usize,
}

/// The same tile as the AVX-512 kernel, in plain Rust (same order of summation).
///
/// # Safety
/// `out.y` points to n rows of stride `out.stride` with at least `out.cols` writable values each.
unsafe fn portable_tile(n: usize, x: &[f32], inp: usize, panel: &[Line], out: TileOut) {
    let TileOut {
        y,
        stride: ys,
        cols,
    } = out;
    for r in 0..n {
        let mut acc = [0f32; PANEL];
        for (k, line) in panel.iter().enumerate() {
            let a = x[r * inp + k];
            for (s, w) in acc.iter_mut().zip(&line.0) {
                *s = a.mul_add(*w, *s);
            }
        }
        std::ptr::copy_nonoverlapping(acc.as_ptr(), y.add(r * ys), cols);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Line, TileOut, MR, PANEL};
    use std::arch::x86_64::*;

    /// Dispatches a tile of `n` ≤ MR rows to the kernel compiled for exactly that many rows;
    /// `first` (the first tile of a task) also prefetches the panel ahead of its reads.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` holds n rows of `inp` values; `out.y` points to n rows of stride
    /// `out.stride` with at least `out.cols` (1..=32) writable values each.
    pub(super) unsafe fn tile(
        n: usize,
        x: &[f32],
        inp: usize,
        panel: &[Line],
        out: TileOut,
        first: bool,
    ) {
        debug_assert!(n <= MR && x.len() >= n * inp && panel.len() == inp);
        let TileOut {
            y,
            stride: ys,
            cols,
        } = out;
        let lo = mask(cols.min(16));
        let hi = mask(cols.saturating_sub(16));
        let (x, w) = (x.as_ptr(), panel.as_ptr() as *const f32);
        macro_rules! rows {
            ($($r:literal)*) => {
                match (n, first) {
                    $(
                        ($r, true) => kernel::<$r, true>(x, inp, w, y, ys, lo, hi),
                        ($r, false) => kernel::<$r, false>(x, inp, w, y, ys, lo, hi),
                    )*
                    _ => unreachable!("tile of {n} rows"),
                }
            };
        }
        rows!(1 2 3 4 5 6 7 8 9 10 11 12)
    }

    /// Lines ahead of the one being read that the first tile of a panel asks for (the panel
    /// then comes from memory; the hardware prefetcher stops at every 4 KB page).
    const AHEAD: usize = 32;

    /// The low `n` bits set (n ≤ 16).
    fn mask(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// R rows × 32 columns: 2·R accumulators, one aligned line of the panel per k.
    ///
    /// # Safety
    /// As `tile`, with `w` a 64-byte aligned panel of `inp` lines and `x` R rows of `inp` values.
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const R: usize, const PREFETCH: bool>(
        x: *const f32,
        inp: usize,
        w: *const f32,
        y: *mut f32,
        ys: usize,
        lo: __mmask16,
        hi: __mmask16,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for k in 0..inp {
            let line = w.add(k * PANEL);
            if PREFETCH {
                let ahead = line.wrapping_add(AHEAD * PANEL) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(ahead);
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
            }
            let b0 = _mm512_load_ps(line);
            let b1 = _mm512_load_ps(line.add(16));
            for (r, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(*x.add(r * inp + k));
                a[0] = _mm512_fmadd_ps(xv, b0, a[0]);
                a[1] = _mm512_fmadd_ps(xv, b1, a[1]);
            }
        }
        for (r, a) in acc.iter().enumerate() {
            let row = y.add(r * ys);
            _mm512_mask_storeu_ps(row, lo, a[0]);
            if hi != 0 {
                _mm512_mask_storeu_ps(row.add(16), hi, a[1]);
            }
        }
    }
}
