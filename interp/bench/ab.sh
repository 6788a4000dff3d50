#!/usr/bin/env bash
# Whole processes in A/B pairs (A, B, A, B, ...), after one warm-up run of
# each: prints each pair's wall-time ratio A/B and their median.
#   interp/bench/ab.sh PAIRS 'COMMAND A' 'COMMAND B'
# e.g. interp/bench/ab.sh 5 'target/release/tmgc-scheme interp/bench/fib.scm' 'guile interp/bench/fib.scm'
set -euo pipefail
pairs=$1; a=$2; b=$3
wall() { /usr/bin/time -f "%e" sh -c "exec $1 >/dev/null 2>&1" 2>&1 | tail -1; }
wall "$a" >/dev/null; wall "$b" >/dev/null
ratios=()
for _ in $(seq "$pairs"); do
  ta=$(wall "$a"); tb=$(wall "$b")
  r=$(echo "$ta / $tb" | bc -l)
  ratios+=("$r")
  printf "A %s s  B %s s  A/B %.3f\n" "$ta" "$tb" "$r"
done
printf "median A/B: %.3f\n" "$(printf "%s\n" "${ratios[@]}" | sort -n | sed -n "$(( (pairs + 1) / 2 ))p")"
