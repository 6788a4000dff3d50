#!/usr/bin/env bash
# Set-up for `cargo bench -p tmgc --bench mark`: installs Boehm GC (libgc,
# Debian's package) and builds the peer program that marks the same heap
# shapes with GC_gcollect. Needs root for apt-get (or libgc-dev already
# installed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -e /usr/include/gc.h ]; then
  apt-get install -y --no-install-recommends libgc-dev || { apt-get update && apt-get install -y --no-install-recommends libgc-dev; }
fi
mkdir -p target
gcc -O2 -o target/boehm_mark gc/benches/peer/boehm_mark.c -lgc
echo "built target/boehm_mark"
