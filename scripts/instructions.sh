#!/usr/bin/env bash
# Instructions a whole program runs, counted by cachegrind: the A/B measure
# for a change too small for timed pairs on a noisy shared VM
# (docs/PERFORMANCE.md, "the field check folded (FC1) and A7"). Counts
# every thread's instructions; two runs of one binary differ by about 1%
# (the collector thread's timing), so a difference under 2% is noise.
#
#   scripts/instructions.sh BIN_A [BIN_B] [-- ARGS...]
#
# BIN_A and BIN_B are tmgc-bench binaries (copy one aside before rebuilding
# the other); ARGS default to `run binary-trees tmgc 18 1`. Prints each
# binary's count and, with two, their ratio A/B. Needs valgrind: without it,
# says so and exits 0 (nothing is measured).
set -u
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind is not installed (apt-get install valgrind): nothing measured"
    exit 0
fi
bins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    bins+=("$1")
    shift
done
[ $# -gt 0 ] && shift
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(run binary-trees tmgc 18 1)
if [ ${#bins[@]} -lt 1 ] || [ ${#bins[@]} -gt 2 ]; then
    echo "usage: $0 BIN_A [BIN_B] [-- ARGS...]" >&2
    exit 2
fi
counts=()
for b in "${bins[@]}"; do
    out=$(mktemp)
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$b" "${args[@]}" >/dev/null 2>"$out" || {
        echo "$b ${args[*]} failed:" >&2
        cat "$out" >&2
        exit 1
    }
    n=$(grep -E 'I +refs:' "$out" | sed 's/.*refs: *//; s/,//g')
    rm -f "$out"
    counts+=("$n")
    echo "$b ${args[*]}: $n instructions"
done
if [ ${#counts[@]} -eq 2 ]; then
    awk -v a="${counts[0]}" -v b="${counts[1]}" 'BEGIN { printf "A/B: %.4f\n", a / b }'
fi
