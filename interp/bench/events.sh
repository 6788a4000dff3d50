#!/usr/bin/env bash
# Events per second of each example in global-lock mode, with 1 worker
# (solo mode), 1 worker without solo mode, and 2 workers. The modes run
# in turn (gil, 1, 1 no-solo, 2, gil, 1, ...) RUNS times (default 5), so a
# drift of the machine's speed falls on every mode alike; the table gives
# the median event time, the process's CPU time (user + system) of that
# run, and the ratio of the global-lock mode's median to each mode's.
# Run from the workspace root after `cargo build --release -p tmgc-scheme`.
set -euo pipefail
bin=target/release/tmgc-scheme
runs=${RUNS:-5}
modes=("--gil" "--workers 1" "--workers 1 --no-solo" "--workers 2")
tmp=$(mktemp -d)
printf "| example | mode | events | event time (s, median of %s) | events/s | retries | CPU (s) | vs --gil |\n|---|---|---|---|---|---|---|---|\n" "$runs"
for ex in ${EXAMPLES:-wordcount bank trees simulation requests}; do
  for i in $(seq "$runs"); do
    for k in "${!modes[@]}"; do
      err=$( { /usr/bin/time -f "CPU %U %S" $bin ${modes[$k]} --stats interp/examples/$ex.scm > /dev/null; } 2>&1 )
      t=$(echo "$err" | sed -n 's/.*event time: \([0-9.]*\) s.*/\1/p')
      ev=$(echo "$err" | sed -n 's/^events: \([0-9]*\) .*/\1/p')
      rt=$(echo "$err" | sed -n 's/.*retries (conflicts): \([0-9]*\),.*/\1/p')
      cpu=$(echo "$err" | awk '/^CPU/ {print $2+$3}')
      echo "$t $ev $rt $cpu" >> "$tmp/$ex.$k"
    done
  done
  gil=""
  for k in "${!modes[@]}"; do
    med=$(sort -n "$tmp/$ex.$k" | sed -n "$(( (runs + 1) / 2 ))p")
    read -r t ev rt cpu <<< "$med"
    [ -z "$gil" ] && gil=$t
    printf "| %s | %s | %s | %s | %.0f | %s | %s | %.2fx |\n" "$ex" "${modes[$k]}" "$ev" "$t" "$(echo "$ev / $t" | bc -l)" "$rt" "$cpu" "$(echo "$gil / $t" | bc -l)"
  done
done
rm -rf "$tmp"
