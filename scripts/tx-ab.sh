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
# the other. Lines are labelled A and B. `TMGC_SOLO=0` exported in the
# environment runs both without solo mode. On a shared VM a process can run
# slow from start to end (docs/PERFORMANCE.md, "why the tmgc rows of the
# tx benches jump"): compare the runs, not one of them.
set -u -o pipefail
count=false
if [ "${1:-}" = "--instructions" ]; then
    count=true
    shift
fi
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 [--instructions] BIN_A BIN_B [RUNS]" >&2
    exit 2
fi
bins=("$1" "$2")
labels=(A B)
runs=${3:-3}
case "$runs" in
    '' | *[!0-9]* | 0)
        echo "RUNS must be a positive integer, not '$runs'" >&2
        exit 2
        ;;
esac
for bin in "${bins[@]}"; do
    [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }
done
echo "A: ${bins[0]}"
echo "B: ${bins[1]}"
# Every row for the timed runs, whatever the caller's environment says.
unset TX_ROUNDS_ROW TX_ROUNDS_EACH
solo=$(printenv TMGC_SOLO || true)
echo "fastest rounds, ns per transaction, ${solo:+TMGC_SOLO=$solo, }$runs runs in turn:"
for _ in $(seq "$runs"); do
    for i in 0 1; do
        out=$("${bins[$i]}" --bench) || { echo "${bins[$i]} --bench failed" >&2; exit 1; }
        row() { echo "$out" | awk -v name="$1:" '$0 ~ name { print $(NF - 4) }'; }
        printf '%s  mutex %6s  empty %6s  reads %6s  full %6s\n' \
            "${labels[$i]}" "$(row mutex)" "$(row empty)" "$(row reads)" "$(row full)"
    done
done
$count || exit 0
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind is not installed (apt-get install valgrind): no instruction counts"
    exit 0
fi
echo "instructions, one row alone (M per 10^6 transactions, start-up included):"
for i in 0 1; do
    line="${labels[$i]}"
    for r in empty reads full; do
        log=$(mktemp)
        TX_ROUNDS_ROW=$r valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
            "${bins[$i]}" >/dev/null 2>"$log" || { echo "${bins[$i]} (row $r) failed under valgrind:" >&2; cat "$log" >&2; exit 1; }
        n=$(grep -E 'I +refs:' "$log" | sed 's/.*refs: *//; s/,//g')
        rm -f "$log"
        [ -n "$n" ] || { echo "no instruction count from valgrind for row $r" >&2; exit 1; }
        line="$line  $r $(awk -v n="$n" 'BEGIN { printf "%.1f", n / 1e6 }')"
    done
    echo "$line"
done
