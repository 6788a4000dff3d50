#!/usr/bin/env bash
# Every loom model at its full preemption bound (docs/TESTING.md, "Loom
# bounds"). CI runs two long collector models at a lower bound, each with
# a bug put back that CI still finds; run this before a change to a
# protocol lands. gc/tests/loom_gc.rs takes most of the time: its models
# at their full bounds summed to 690 s of one core (AMD EPYC Zen 3 VM,
# 2026-12-03). Every suite runs; the script fails if any did. Suites may
# be named as for scripts/loom.sh.
TMGC_LOOM_FULL=1 exec "$(dirname "$0")/loom.sh" "$@"
