#!/usr/bin/env bash
# The soak (docs/RELIABILITY.md, "The soak"): the stress harness with the
# verifier after every cycle and tmgc faults injected, run after run for a
# given time, rotating seeds, thread counts (1 to 16), markers and modes
# (generational, solo, background collector, huge pages). Every run's JSON
# report goes to a log; the totals are printed after each run and at the
# end. Any failure stops the soak with the command that reruns it.
#
#   scripts/soak.sh [TOTAL_SECONDS] [RUN_SECONDS] [FIRST_SEED]
#
# Defaults: one hour of 60-second runs from seed 1. The log is
# target/soak/soak-<date>.jsonl; `scripts/soak_totals.py LOG` sums one.
# SOAK_EXTRA adds arguments to every run, e.g. a tight pacer that keeps
# the heap past its goal, so mark assists run with every marker:
# SOAK_EXTRA="--growth-factor 0.1 --min-trigger-mib 1".
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-3600}
per_run=${2:-60}
seed=${3:-1}
mkdir -p target/soak
log="target/soak/soak-$(date -u +%Y%m%dT%H%M%SZ).jsonl"

cargo build --release -p tmgc-stress --features faults
bin=target/release/tmgc-stress

threads=(1 2 3 4 6 8 12 16)
markers=(serial parallel assisted)
start=$(date +%s)
run=0
echo "soak: ${total} s of ${per_run}-second runs, log ${log} ($(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores)"
while (( $(date +%s) - start + per_run <= total )); do
  t=${threads[$((run % ${#threads[@]}))]}
  mk=${markers[$(((run / 2) % ${#markers[@]}))]}
  args=(--duration "$per_run" --threads "$t" --marker "$mk" --seed "$seed" --verify --json --fault-permille 10)
  (( run % 2 == 1 )) && args+=(--generational)
  (( run % 5 == 2 )) && args+=(--no-solo)
  (( run % 7 == 3 )) && args+=(--no-background)
  (( run % 11 == 4 )) && args+=(--huge-pages)
  (( run % 13 == 6 )) && args+=(--no-give-way)
  # shellcheck disable=SC2206 # split on purpose: several arguments
  [[ -n "${SOAK_EXTRA:-}" ]] && args+=(${SOAK_EXTRA})
  if ! out=$("$bin" "${args[@]}" 2>"target/soak/stderr-$run.txt"); then
    echo "soak: run $run FAILED; rerun: $bin ${args[*]/--json/}" >&2
    tail -5 "target/soak/stderr-$run.txt" >&2
    [ -n "$out" ] && echo "$out" >>"$log"
    python3 scripts/soak_totals.py "$log"
    exit 1
  fi
  rm -f "target/soak/stderr-$run.txt"
  echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["args"]=sys.argv[1:]; print(json.dumps(d))' "${args[@]}" >>"$log"
  python3 scripts/soak_totals.py "$log" --short
  run=$((run + 1))
  seed=$((seed + 1))
done
python3 scripts/soak_totals.py "$log"
