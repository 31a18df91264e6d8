#!/usr/bin/env bash
# Peak resident memory and speed of `spillover train` per token budget (tokens per forward pass),
# on the default experiment's training set and recipe (LoRA r=8 on q/k/v/o, steps of 8, 256-token
# examples and rows), one epoch per budget; also the padded layout in micro-batches of 2 (the
# pipeline's layout before packing) for comparison. Writes a Markdown report (the table is made
# here from the runs' own output: /usr/bin/time -v and train_log.json).
#
# Usage: tools/train_memory.sh SPILLOVER_BINARY TRAIN_JSONL OUT.md [MODEL] [BUDGET...]
#   TRAIN_JSONL: the default experiment's training set, e.g. RUN_FOLDER/data/refusal_train.jsonl
#   of any `spillover run` (the data stage writes it first; it does not depend on the model).
#   MODEL: default smollm2-135m-instruct. BUDGETS: default 256 384 512 1024.
set -euo pipefail
bin=$1 data=$2 out=$3
model=${4:-smollm2-135m-instruct}
shift $(( $# < 4 ? $# : 4 ))
budgets=("$@")
[ ${#budgets[@]} -gt 0 ] || budgets=(256 384 512 1024)
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (GNU time)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One training run; prints a table row.
run() {
  local label=$1; shift
  local dir="$tmp/run"
  rm -rf "$dir"
  /usr/bin/time -v "$bin" train --model "$model" --data "$data" --out "$dir" \
    --lora r=8,alpha=16,targets=q_proj,k_proj,v_proj,o_proj --max-len 256 --epochs 1 --quiet "$@" \
    2> "$tmp/time.txt" > /dev/null
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$tmp/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time.txt")
  python3 - "$dir/train_log.json" "$label" "$rss" "$wall" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["report"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['processed_tokens']} | {r['padded_tokens']} | "
      f"{r['trained_tokens']} | {r['seconds']:.1f} | {r['processed_tokens_per_second']:.1f} | {sys.argv[4]} |")
EOF
}

{
  echo "# \`spillover train\` memory per token budget"
  echo
  echo "Written by \`tools/train_memory.sh\` on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
  echo "($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average before:"
  echo "$(cut -d' ' -f1-3 /proc/loadavg); \`$("$bin" --version)\` at commit $(git -C "$(dirname "$0")" rev-parse --short HEAD),"
  echo "model $model, data $(basename "$data")"
  echo "($(wc -l < "$data") examples), 1 epoch, steps of 8, rows of 256 tokens."
  echo
  echo "| layout | peak RSS MB | tokens | positions | loss tokens | training s | tokens/s | wall |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
  run "padded, micro-batches of 2" --no-packing --batch-size 2 --grad-accum 4 --token-budget 4096
  for b in "${budgets[@]}"; do
    run "packed, budget $b" --batch-size 8 --row-tokens 256 --token-budget "$b"
  done
} > "$out"
cat "$out"
