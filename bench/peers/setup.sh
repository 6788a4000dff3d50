#!/usr/bin/env bash
# Installs and builds the peers of tmgc-bench that are not Rust crates:
# C with Boehm GC (Debian's libgc-dev). Idempotent. A peer that cannot be
# installed here is reported, and tmgc-bench then marks its rows missing.
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
if cc -O2 -o "$out/binary_trees_boehm" bench/peers/binary_trees_boehm.c -lgc -lpthread 2>"$out/boehm-build.log"; then
  echo "tmgc-bench peers: built $out/binary_trees_boehm"
else
  echo "tmgc-bench peers: Boehm peer not built (see $out/boehm-build.log); its rows will say 'missing'"
fi
exit 0
