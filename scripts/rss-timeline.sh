#!/usr/bin/env bash
# Run a command and print its resident set size every 100 ms: one line
# "milliseconds-since-start RSS-MiB" per sample, on standard output (the
# command's own output goes to standard error). Linux only (/proc).
#
#   scripts/rss-timeline.sh ./target/release/tmgc-bench run binary-trees tmgc 21 1
set -euo pipefail
"$@" 1>&2 &
pid=$!
t0=$(date +%s%N)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(( ($(date +%s%N) - t0) / 1000000 )) $rss"
  sleep 0.1
done
wait "$pid"
