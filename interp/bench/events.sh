#!/usr/bin/env bash
# Events per second of each example in global-lock mode, with 1 worker
# (solo mode), 1 worker without solo mode, and 2 workers: three runs each,
# the median's event time, with the process's CPU time beside it.
# Run from the workspace root after `cargo build --release -p tmgc-scheme`.
set -euo pipefail
bin=target/release/tmgc-scheme
printf "| example | mode | events | event time (s, median of 3) | events/s | retries | CPU (s) | vs --gil |\n|---|---|---|---|---|---|---|---|\n"
for ex in wordcount bank trees simulation requests; do
  gil=""
  for mode in "--gil" "--workers 1" "--workers 1 --no-solo" "--workers 2"; do
    rows=()
    for i in 1 2 3; do
      err=$( { /usr/bin/time -f "CPU %U %S" $bin $mode --stats interp/examples/$ex.scm > /dev/null; } 2>&1 )
      t=$(echo "$err" | sed -n 's/.*event time: \([0-9.]*\) s.*/\1/p')
      ev=$(echo "$err" | sed -n 's/^events: \([0-9]*\) .*/\1/p')
      rt=$(echo "$err" | sed -n 's/.*retries (conflicts): \([0-9]*\),.*/\1/p')
      cpu=$(echo "$err" | awk '/^CPU/ {print $2+$3}')
      rows+=("$t $ev $rt $cpu")
    done
    med=$(printf "%s\n" "${rows[@]}" | sort -n | sed -n 2p)
    read -r t ev rt cpu <<< "$med"
    [ -z "$gil" ] && gil=$t
    printf "| %s | %s | %s | %s | %.0f | %s | %s | %.2fx |\n" "$ex" "$mode" "$ev" "$t" "$(echo "$ev / $t" | bc -l)" "$rt" "$cpu" "$(echo "$gil / $t" | bc -l)"
  done
done
