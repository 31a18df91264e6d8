#!/usr/bin/env bash
# Regenerates the README's result section: runs the default experiment (README's first command,
# `spillover run` with no file), keeps its results.json and resolved config under
# docs/results/default/, then rewrites README.md's generated section and
# docs/results/default/changes.svg from that file (`spillover report DIR --readme README.md`).
# A test (crates/spillover-report/tests/readme.rs) fails when README.md and the file disagree.
#
# Usage: scripts/readme-result.sh [--set KEY=VALUE ...]   (extra arguments go to `spillover run`)
# SPILLOVER_BIN: use this binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${SPILLOVER_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release -p spillover
  bin="${CARGO_TARGET_DIR:-target}/release/spillover"
fi
runs="$(mktemp -d)"
trap 'rm -rf "$runs"' EXIT
"$bin" run --runs-dir "$runs" "$@"
dir="$(ls -d "$runs"/default-*)"
mkdir -p docs/results/default
cp "$dir/results.json" "$dir/config.resolved.toml" docs/results/default/
"$bin" report docs/results/default --readme README.md
