//! Matrix-product speed for SmolLM2-135M's linear shapes: candle's path as the model runs it
//! (`frozen_matmul`, with the weight in `use_inference_layout`'s column-major layout, the
//! unembedding row-major as the model keeps it) against `PackedWeight`, in the same run:
//!
//!     cargo run --release -p spillover-model --example packed_bench [-- --quick] [-- --m 1,8,64]
//!
//! The two paths are called in turn, so both see the same background load; each figure is the
//! fastest of the repetitions (at least 5, and at least 0.3 s of calls per path; 2 and 0.05 s with
//! `--quick`). GFLOP/s = 2·m·in·out / seconds per call.

use candle_core::{Device, Tensor};
use spillover_model::frozen::frozen_matmul;
use spillover_model::packed::{kernel_available, PackedWeight};
use std::time::{Duration, Instant};

/// (name, in, out, candle weight column-major as in `use_inference_layout`)
const SHAPES: [(&str, usize, usize, bool); 5] = [
    ("q/o 576→576", 576, 576, true),
    ("k/v 576→192", 576, 192, true),
    ("gate/up 576→1536", 576, 1536, true),
    ("down 1536→576", 1536, 576, true),
    ("unembed 576→49152", 576, 49152, false),
];

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        })
        .collect()
}

/// Fastest seconds per call of `a` and `b`, called in turn.
fn time_pair(
    mut a: impl FnMut(),
    mut b: impl FnMut(),
    min_reps: usize,
    min_time: Duration,
) -> (f64, f64) {
    a();
    b();
    let (mut ta, mut tb) = (f64::INFINITY, f64::INFINITY);
    let (mut sa, mut sb) = (Duration::ZERO, Duration::ZERO);
    let mut reps = 0;
    while reps < min_reps || sa < min_time || sb < min_time {
        let t = Instant::now();
        a();
        let d = t.elapsed();
        (sa, ta) = (sa + d, ta.min(d.as_secs_f64()));
        let t = Instant::now();
        b();
        let d = t.elapsed();
        (sb, tb) = (sb + d, tb.min(d.as_secs_f64()));
        reps += 1;
    }
    (ta, tb)
}

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let ms: Vec<usize> = match args.iter().position(|a| a == "--m") {
        Some(i) => args[i + 1].split(',').map(|v| v.parse().unwrap()).collect(),
        None => vec![1, 8, 16, 32, 64, 256, 2048],
    };
    let (min_reps, min_time) = if quick {
        (2, Duration::from_millis(50))
    } else {
        (5, Duration::from_millis(300))
    };
    println!(
        "AVX-512 kernel: {}; candle threads: {}; rayon threads: {}",
        kernel_available(),
        candle_core::utils::get_num_threads(),
        rayon::current_num_threads()
    );
    println!("| shape | m | candle GFLOP/s | packed GFLOP/s | packed / candle |");
    println!("|---|---:|---:|---:|---:|");
    let dev = Device::Cpu;
    for (name, inp, out, col_major) in SHAPES {
        let w = Tensor::from_vec(random(out * inp, 7), (out, inp), &dev)?;
        let w = if col_major {
            w.t()?.contiguous()?.t()?
        } else {
            w
        };
        let packed = PackedWeight::new(&w)?;
        for &m in &ms {
            let x = Tensor::from_vec(random(m * inp, m as u64), (m, inp), &dev)?;
            let (tc, tp) = time_pair(
                || drop(frozen_matmul(&x, &w).unwrap()),
                || drop(packed.forward(&x).unwrap()),
                min_reps,
                min_time,
            );
            let flop = 2.0 * (m * inp * out) as f64;
            let (gc, gp) = (flop / tc / 1e9, flop / tp / 1e9);
            println!("| {name} | {m} | {gc:.1} | {gp:.1} | {:.2}× |", gp / gc);
        }
    }
    Ok(())
}
