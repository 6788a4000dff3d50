#!/usr/bin/env bash
# Two builds of the `tx_rounds` bench compared the way docs/PERFORMANCE.md
# compares them ("the global root read resolved (GR1)"): each binary run
# with `--bench` in turn, RUNS times, one line per run with the fastest
# round of each row (ns per transaction); with `--instructions`, also
# cachegrind's count of each tmgc row run alone (`TX_ROUNDS_ROW`, one
# round of 10^6 transactions, including about 20 M of start-up).
#
#   scripts/tx-ab.sh [--instructions] BIN_A BIN_B [RUNS]
#
# BIN_A and BIN_B are `target/release/deps/tx_rounds-*` binaries: build one
# (`cargo bench -p tmgc --bench tx_rounds --no-run`), copy it aside, build
# the other. `TMGC_SOLO=0` in the environment runs both without solo mode.
# On a shared VM a process can run slow from start to end (docs/PERFORMANCE.md,
# "why the tmgc rows jump"): compare the runs, not one of them.
set -u
count=false
if [ "${1:-}" = "--instructions" ]; then
    count=true
    shift
fi
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 [--instructions] BIN_A BIN_B [RUNS]" >&2
    exit 2
fi
a=$1
b=$2
runs=${3:-3}
for bin in "$a" "$b"; do
    [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }
done
echo "fastest rounds, ns per transaction (mutex, tmgc empty, reads, full), ${TMGC_SOLO:+TMGC_SOLO=$TMGC_SOLO, }$runs runs in turn:"
for _ in $(seq "$runs"); do
    for bin in "$a" "$b"; do
        out=$("$bin" --bench) || { echo "$bin --bench failed" >&2; exit 1; }
        row() { echo "$out" | awk -v name="$1:" '$0 ~ name { print $(NF - 4) }'; }
        printf '%-40s mutex %6s  empty %6s  reads %6s  full %6s\n' \
            "$(basename "$bin")" "$(row mutex)" "$(row empty)" "$(row reads)" "$(row full)"
    done
done
$count || exit 0
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind is not installed (apt-get install valgrind): no instruction counts"
    exit 0
fi
echo "instructions, one row alone (M per 10^6 transactions):"
for bin in "$a" "$b"; do
    line="$(basename "$bin")"
    for r in empty reads full; do
        n=$(TX_ROUNDS_ROW=$r valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" 2>&1 >/dev/null |
            grep -E 'I +refs:' | sed 's/.*refs: *//; s/,//g')
        line="$line  $r $(awk -v n="$n" 'BEGIN { printf "%.1f", n / 1e6 }')"
    done
    echo "$line"
done
