#!/usr/bin/env bash
# Installs and builds the peers of tmgc-bench that are not Rust crates:
# the C programs on Boehm GC (Debian's libgc-dev). Idempotent. A peer that
# cannot be installed here is reported, and tmgc-bench then marks its rows
# missing.
set -u
cd "$(dirname "$0")/../.."
out=target/peers
mkdir -p "$out"
if ! [ -f /usr/include/gc.h ] && ! [ -f /usr/include/gc/gc.h ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "tmgc-bench peers: installing libgc-dev (Boehm GC)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgc-dev) >/dev/null 2>&1 \
      || echo "tmgc-bench peers: could not install libgc-dev; the Boehm rows will say 'missing'"
  else
    echo "tmgc-bench peers: no apt-get; install Boehm GC (libgc) by hand for the Boehm rows"
  fi
fi
for prog in binary_trees gcbench alloc_rate graph; do
  if cc -O2 -o "$out/${prog}_boehm" "bench/peers/${prog}_boehm.c" -lgc -lpthread 2>"$out/${prog}-build.log"; then
    echo "tmgc-bench peers: built $out/${prog}_boehm"
  else
    echo "tmgc-bench peers: ${prog}_boehm not built (see $out/${prog}-build.log); its rows will say 'missing'"
  fi
done
exit 0
