#!/usr/bin/env python3
"""Off-CPU stretches of a program's threads, and the task that took each CPU.

Reads `perf script -F tid,cpu,time,trace` output of `sched:sched_switch`
events on standard input and prints each stretch longer than MIN_MS (0.5 by
default) that a thread whose name starts with PREFIX spent switched out,
with its state when it left (R: preempted; S, D: it waited) and the task
that ran on its CPU next. docs/PERFORMANCE.md ("Who takes the mutator's
CPU") used it on the pause bench:

    PAUSE_MUTATORS=1 perf record -q -a -e sched:sched_switch \\
        --filter 'prev_comm == "pause-e4fee32cc" || next_comm == "pause-e4fee32cc"' \\
        -o sw.data target/release/deps/pause-<hash> 1024
    perf script -i sw.data -F tid,cpu,time,trace | scripts/offcpu.py pause-

(`comm` is the binary's name cut to 15 characters.) Usage:
offcpu.py PREFIX [MIN_MS].
"""
import re
import sys

SWITCH = re.compile(
    r"\s*(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ "
    r"prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)"
)


def main() -> None:
    prefix = sys.argv[1] if len(sys.argv) > 1 else ""
    min_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    out = {}  # tid -> (time it left, the task that took the CPU, cpu, state)
    for line in sys.stdin:
        m = SWITCH.match(line)
        if not m:
            continue
        _, cpu, t, prev_comm, prev_pid, state, next_comm, next_pid = m.groups()
        t = float(t)
        if prev_comm.startswith(prefix):
            out[prev_pid] = (t, next_comm, cpu, state)
        if next_comm.startswith(prefix) and next_pid in out:
            t0, who, cpu0, st = out.pop(next_pid)
            ms = (t - t0) * 1e3
            # Over 100 ms: a thread that slept (the main thread's waits).
            if min_ms < ms < 100:
                print(f"tid {next_pid} off {ms:.2f} ms state {st}, cpu{cpu0} to {who}, at {t0:.4f}")


if __name__ == "__main__":
    main()
