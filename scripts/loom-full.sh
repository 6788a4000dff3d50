#!/usr/bin/env bash
# Every loom model at its full preemption bound (docs/TESTING.md, "Loom
# bounds"). CI runs a few long collector models at a lower bound, each
# shown to find a bug put back there; run this before a change to a
# protocol lands. gc/tests/loom_gc.rs takes most of the time: its models
# at their full bounds summed to 690 s of one core (AMD EPYC Zen 3 VM,
# 2026-12-03).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg tmgc_loom" LOOM_MAX_PREEMPTIONS=2 TMGC_LOOM_FULL=1
export GLIBC_TUNABLES=glibc.malloc.trim_threshold=1073741824
cargo test -p tmgc-alloc --test loom --release --target-dir target/loom
cargo test -p tmgc-roots --lib --release --target-dir target/loom
cargo test -p tmgc --test loom --release --target-dir target/loom
cargo test -p tmgc --test loom_gc --release --target-dir target/loom
cargo test -p tmgc --lib --release --target-dir target/loom
