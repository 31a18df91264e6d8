#!/usr/bin/env bash
# The Slurm test: starts a throwaway single-node Slurm cluster (Debian's munge, slurmctld, slurmd;
# its own state, logs and munge socket under a temporary folder, its own ports on 127.0.0.1),
# submits a 4-point sweep on tiny-llama as a job array with `spillover sweep --slurm --submit`,
# waits for it, and checks that the collected results equal those of the same sweep run locally.
# The daemons are stopped and the folder removed on exit, whatever happened. See docs/cluster.md.
#
# Needs root (slurmd runs jobs as the submitting user and the cluster runs as root). Installs the
# packages with apt-get when missing; in CI (CI=true) a missing package or no root is a failure,
# elsewhere the test is skipped with a message.
# Usage: scripts/test-slurm.sh [SPILLOVER_BINARY]   (default: $CARGO_TARGET_DIR/debug/spillover)
set -euo pipefail
cd "$(dirname "$0")/.."
spillover="$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/spillover}")"
[ -x "$spillover" ] || { echo "test-slurm: no spillover binary at $spillover (cargo build --bin spillover)" >&2; exit 1; }

skip() {
    if [ "${CI:-}" = true ]; then echo "test-slurm: FAILED: $1" >&2; exit 1; fi
    echo "test-slurm: SKIPPED: $1" >&2
    exit 0
}
have() { command -v slurmctld && command -v slurmd && command -v sbatch && command -v munged && command -v mungekey; } >/dev/null
[ "$(id -u)" = 0 ] || skip "the throwaway cluster needs root"
if ! have; then
    command -v apt-get >/dev/null || skip "slurmctld, slurmd, sbatch, munged are missing and there is no apt-get"
    echo "test-slurm: installing slurmctld slurmd slurm-client munge" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null \
        || skip "apt-get could not install the Slurm packages"
    have || skip "the Slurm packages did not provide slurmctld, slurmd, sbatch, munged"
fi

tmp="$(mktemp -d /tmp/spillover-slurm.XXXXXX)"
pids=()
teardown() {
    local rc=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -S "$tmp/munge/socket" ] && munged --stop --socket="$tmp/munge/socket" >/dev/null 2>&1 || true
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$rc" != 0 ]; then
        echo "test-slurm: FAILED; logs:" >&2
        tail -n 30 "$tmp"/log/* "$tmp"/runs-slurm/sweep-*/slurm/*.log 2>/dev/null >&2 || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap teardown EXIT
mkdir -p "$tmp"/{munge,state,spool,log}

# munge: a fresh key and a private socket.
mungekey --create --keyfile="$tmp/munge/key" >/dev/null
chmod 600 "$tmp/munge/key"
munged --force --socket="$tmp/munge/socket" --key-file="$tmp/munge/key" \
    --pid-file="$tmp/munge/pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/seed"
read -r ctld_port d_port < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
mem="$(free -m | awk '/^Mem:/ { print int($2 * 0.8) }')"
cpus=2
export SLURM_CONF="$tmp/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=spillovertest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -c >"$tmp/log/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D -N localhost >"$tmp/log/slurmd.out" 2>&1 & pids+=($!)
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q '^idle' && break
    sleep 1
done
sinfo -h -o %T | grep -q '^idle' || { echo "test-slurm: the node never became idle" >&2; exit 1; }
echo "test-slurm: cluster up (slurmctld :$ctld_port, slurmd :$d_port)" >&2

# A 4-point sweep on tiny-llama: 2 training lengths x 2 training-set sizes; one shared baseline.
cat > "$tmp/exp.toml" <<'TOML'
name = "slurmtest"
[model]
id = "tiny-llama"
[data]
n_train = 8
[intervention]
kind = "lora_sft"
batch_size = 4
[benchmarks]
only = ["refusal", "arithmetic", "mmlu", "kl"]
[benchmarks.refusal]
limit = 4
max_new_tokens = 8
[benchmarks.arithmetic]
limit = 5
[benchmarks.mmlu]
limit = 6
[benchmarks.kl]
limit = 3
max_new_tokens = 6
[judge]
kind = "keyword"
[analysis]
mri = false
TOML
sweep=("$spillover" sweep "$tmp/exp.toml" --quiet --grid intervention.epochs=1,2 --grid data.n_train=8,12)

submitted="$("${sweep[@]}" --runs-dir "$tmp/runs-slurm" --slurm --partition test --cpus-per-task 1 --time 30:00 --submit)"
echo "$submitted" >&2
array="$(sed -n 's/^array job \([0-9]*\), collect job \([0-9]*\)$/\1/p' <<<"$submitted")"
collect="$(sed -n 's/^array job \([0-9]*\), collect job \([0-9]*\)$/\2/p' <<<"$submitted")"
[ -n "$array" ] && [ -n "$collect" ] || { echo "test-slurm: no job ids in: $submitted" >&2; exit 1; }

# Meanwhile the same sweep in this process, for comparison.
"${sweep[@]}" --runs-dir "$tmp/runs-local" >/dev/null

deadline=$((SECONDS + 900))
while [ -n "$(squeue -h -j "$array,$collect" 2>/dev/null)" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "test-slurm: jobs still queued after 15 minutes" >&2; squeue >&2; exit 1; }
    sleep 2
done

python3 - "$tmp/runs-slurm" "$tmp/runs-local" <<'PY'
import glob, json, os, sys

def load(runs):
    [d] = glob.glob(os.path.join(runs, "sweep-slurmtest-*"))
    s = json.load(open(os.path.join(d, "sweep.json")))
    tables = {}
    for p in s["points"]:
        r = json.load(open(os.path.join(p["run_dir"], "results.json")))
        tables[" ".join(p["overrides"])] = r["table"]
        p["run_dir"] = os.path.basename(p["run_dir"])
    return os.path.basename(d), s, tables

slurm, local = load(sys.argv[1]), load(sys.argv[2])
assert slurm[1]["incomplete"] == [], slurm[1]["incomplete"]
assert len(slurm[1]["points"]) == 4, slurm[1]["points"]
assert slurm[0] == local[0], ("sweep folders differ", slurm[0], local[0])
assert slurm[1] == local[1], ("sweep.json differs", slurm[1], local[1])
assert slurm[2] == local[2], "a point's alignment-tax table differs"
PY
shared="$(ls "$tmp/runs-slurm/_shared")"
[ "$(grep -c '^baseline-' <<<"$shared")" = 1 ] || { echo "test-slurm: expected one shared baseline: $shared" >&2; exit 1; }
if grep -q -E '\.(partial|work)-' <<<"$(find "$tmp/runs-slurm/_shared")"; then
    echo "test-slurm: temporary stage folders left behind" >&2; exit 1
fi
echo "test-slurm: OK: the 4-point sweep run as Slurm array $array (collect job $collect) equals the local sweep" >&2
