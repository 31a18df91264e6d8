//! CPU threading defaults.
//!
//! candle runs large matrix products on a rayon pool (RAYON_NUM_THREADS, default: the physical
//! cores) and large elementwise ops on a separate pool of spinning workers (CANDLE_NUM_THREADS,
//! default: the same count). On a small machine shared with other work, the elementwise workers
//! spin while the matmul threads or other processes want the cores; those ops are memory-bound
//! and small at inference sizes, so one thread serves them as fast. `configure` sets
//! CANDLE_NUM_THREADS=1 unless the user chose a value.
//!
//! It also keeps glibc's allocator from handing every large tensor buffer back to the kernel:
//! by default a block over 128 KB (rising to 32 MB) is its own mapping, unmapped when freed, so
//! each forward pays for zeroed fresh pages again (a fifth of the CPU time of MMLU scoring went to
//! page faults). Blocks up to 32 MB now come from the heap, which is not trimmed.

/// Call at the start of `main`, before any tensor work and before other threads exist.
pub fn configure() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Edition 2021: set_var is safe to call; it must run before threads start, as documented.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    keep_freed_memory();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only adjusts allocator tunables; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// Threads used for matrix products.
pub fn matmul_threads() -> usize {
    candle_core::utils::get_num_threads()
}
