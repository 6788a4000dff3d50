#!/usr/bin/env bash
# The loom models: the one place their command lives (docs/TESTING.md).
#
#   scripts/loom.sh [SUITE ...]
#
# SUITE: alloc (the allocation protocols: tmgc-alloc's tests/loom.rs),
# roots (the global root set: tmgc-roots' unit models), tx (commit and
# validation: gc/tests/loom.rs), gc (the collector: gc/tests/loom_gc.rs),
# lib (parallel-marking termination, mark assists, the weak-reference
# gate: tmgc's unit models). No SUITE: all five. Every suite named runs;
# the script fails if any did. TMGC_LOOM_FULL=1 runs every model at its
# full preemption bound (CI runs two collector models lower: "Loom
# bounds" in docs/TESTING.md; scripts/loom-full.sh sets it).
set -uo pipefail
cd "$(dirname "$0")/.."
# The default bound for models that set none. Most set their own, at
# most 2; two small unit models (mark assists, the weak gate) set 3.
export RUSTFLAGS="--cfg tmgc_loom" LOOM_MAX_PREEMPTIONS=2
# glibc's free gives the top of a thread's heap back to the kernel
# (madvise) once 128 KiB is free there; loom runs each interleaving on
# fresh threads, so every execution paid the system calls and the page
# faults again (attach_detach_park alone: 110 s with the default, 98 s
# with this, AMD EPYC Zen 2). A higher threshold changes nothing the
# models check.
export GLIBC_TUNABLES=glibc.malloc.trim_threshold=1073741824
suites=("$@")
[ "${#suites[@]}" -gt 0 ] || suites=(alloc roots tx gc lib)
failed=()
for s in "${suites[@]}"; do
  case "$s" in
    alloc) args=(-p tmgc-alloc --test loom) ;;
    roots) args=(-p tmgc-roots --lib) ;;
    tx) args=(-p tmgc --test loom) ;;
    gc) args=(-p tmgc --test loom_gc) ;;
    lib) args=(-p tmgc --lib) ;;
    *)
      echo "scripts/loom.sh: unknown suite '$s' (alloc, roots, tx, gc, lib)" >&2
      exit 2
      ;;
  esac
  echo "--> loom: $s (cargo test ${args[*]} --release --target-dir target/loom${TMGC_LOOM_FULL:+, TMGC_LOOM_FULL=$TMGC_LOOM_FULL})"
  cargo test "${args[@]}" --release --target-dir target/loom || failed+=("$s")
done
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'loom suites that failed: %s\n' "${failed[*]}"
  exit 1
fi
echo "--> loom: every suite passed (${suites[*]}${TMGC_LOOM_FULL:+, at full bounds})"
