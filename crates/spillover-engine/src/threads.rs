//! CPU threading defaults.
//!
//! candle runs large matrix products on a rayon pool (RAYON_NUM_THREADS, default: the physical
//! cores) and large elementwise ops on a separate pool of spinning workers (CANDLE_NUM_THREADS,
//! default: the same count). On a small machine shared with other work, the elementwise workers
//! spin while the matmul threads or other processes want the cores; those ops are memory-bound
//! and small at inference sizes, so one thread serves them as fast. `configure` sets
//! CANDLE_NUM_THREADS=1 unless the user chose a value.

/// Call at the start of `main`, before any tensor work and before other threads exist.
pub fn configure() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Edition 2021: set_var is safe to call; it must run before threads start, as documented.
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// Threads used for matrix products.
pub fn matmul_threads() -> usize {
    candle_core::utils::get_num_threads()
}
