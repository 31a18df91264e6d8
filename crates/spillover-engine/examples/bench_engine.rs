//! The engine benchmark without the CLI (same code as `spillover bench engine`):
//!
//!     SPILLOVER_CACHE=/tmp/spcache cargo run --release -p spillover-engine --example bench_engine -- \
//!         [--json] [--python PATH | --no-reference] [--repeats N] [--progress] [--quick]
//!         [--only generation,loglikelihood,prefill]
//!
//! `--quick` shrinks every workload (a smoke run, not a measurement).

use spillover_engine::bench::{default_python, run_and_print, BenchConfig};

const USAGE: &str = "bench_engine [--json] [--python PATH | --no-reference] [--repeats N] [--progress] \
[--quick] [--only generation,loglikelihood,prefill]\n\nThe engine benchmark of `spillover bench engine` \
(see `spillover bench engine --help` for what it measures); the packaged model and MMLU come from \
$SPILLOVER_CACHE.";

fn main() -> anyhow::Result<()> {
    spillover_engine::threads::configure();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    if has("--help") || has("-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let value = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let root = spillover_data::cache_root();
    let mut cfg = BenchConfig {
        gguf: spillover_data::resolve(&root, "smollm2-135m-instruct")?.path,
        mmlu: spillover_data::resolve(&root, "mmlu")?.path,
        python: (!has("--no-reference")).then(|| default_python(value("--python"))),
        repeats: value("--repeats").map_or(Ok(1), |v| v.parse())?,
        progress: has("--progress"),
        only: value("--only")
            .map(|v| v.split(',').map(String::from).collect())
            .unwrap_or_default(),
        ..BenchConfig::default()
    };
    if has("--quick") {
        (cfg.gen_prompts, cfg.gen_tokens, cfg.gen_batch) = (8, 8, 8);
        (cfg.mc_questions, cfg.prefill_rows, cfg.prefill_len) = (10, 2, 64);
    }
    run_and_print(&cfg, has("--json"))?;
    Ok(())
}
