#!/usr/bin/env python3
"""Where a worker's time goes: runs `perf record` on one example and sums
the samples by category (interpretation, transactions, allocation, GC at
commit points and in the collector thread, kernel).

Usage (from the workspace root, after `cargo build --release -p tmgc-scheme`):
    python3 interp/bench/profile.py wordcount --workers 2
Retries are not a symbol: the share of attempts that conflicted is printed
from --stats beside the profile."""
import re, subprocess, sys, collections

ex, args = sys.argv[1], sys.argv[2:]
data = f"/tmp/tmgc-scheme-{ex}.perf"
run = subprocess.run(["perf", "record", "-q", "-o", data, "target/release/tmgc-scheme", *args, "--stats",
                      f"interp/examples/{ex}.scm"], capture_output=True, text=True)
stats = run.stderr
rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--sort", "comm,sym"],
                     capture_output=True, text=True).stdout

def category(comm, sym):
    if "[k]" in sym:
        return "kernel"
    if comm.startswith("tmgc-collector") or comm.startswith("tmgc-marker") or comm.startswith("tmgc-sweep"):
        return "collector threads"
    if re.search(r"tmgc::collector|trace_dynamic|tmgc::trace|respond|enter_slow|handshake|sweep", sym):
        return "GC work on workers (commit points, assists, sweeping)"
    if re.search(r"Tx::alloc|tmgc_alloc::|alloc_raw|alloc_dyn|alloc_array|alloc_bytes", sym):
        return "allocation"
    if re.search(r"tmgc::tx::|tmgc::mutator|tmgc::solo|tmgc::thread|vlock|validate|commit|publish", sym):
        return "transactions (reads, writes, logs, commit)"
    return "interpretation (evaluator, builtins, Rust runtime)"

totals = collections.Counter()
for line in rep.splitlines():
    m = re.match(r"\s+([0-9.]+)%\s+(\S+)\s+(.*)$", line)
    if m:
        pct, comm, sym = float(m.group(1)), m.group(2), m.group(3)
        totals[category(comm, sym)] += pct
print(f"example {ex}, args {' '.join(args)}")
for k, v in totals.most_common():
    print(f"  {v:5.1f}%  {k}")
ev = re.search(r"events: (\d+) .*retries \(conflicts\): (\d+)", stats)
if ev:
    e, r = int(ev.group(1)), int(ev.group(2))
    print(f"  attempts: {e + r}, of which retried (conflicts): {r} ({100.0 * r / max(1, e + r):.1f}% of attempts)")
