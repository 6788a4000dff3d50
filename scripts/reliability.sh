#!/usr/bin/env bash
# The extended reliability set (docs/RELIABILITY.md): AddressSanitizer over
# the stress harness, then each fuzz target on its corpus. Needs the nightly
# toolchain with rust-src (rustup component add --toolchain nightly rust-src)
# and, for the fuzz targets, cargo-fuzz (cargo install cargo-fuzz).
#
#   scripts/reliability.sh [ASAN_SECONDS] [FUZZ_SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
asan_secs=${1:-300}
fuzz_secs=${2:-600}
target=x86_64-unknown-linux-gnu

echo "== AddressSanitizer (and LeakSanitizer) over the stress harness, ${asan_secs} s, 4 threads, verifier on"
RUSTFLAGS="-Zsanitizer=address" cargo +nightly build -Zbuild-std --target "$target" --release \
  -p tmgc-stress --target-dir target/asan
ASAN_OPTIONS=detect_leaks=1 "target/asan/$target/release/tmgc-stress" \
  --duration "$asan_secs" --threads 4 --verify

if cargo +nightly fuzz --version >/dev/null 2>&1; then
  for t in api alloc; do
    echo "== fuzz target $t, ${fuzz_secs} s on its corpus"
    (cd fuzz && cargo +nightly fuzz run "$t" -- -max_total_time="$fuzz_secs" -rss_limit_mb=4096)
  done
else
  echo "cargo-fuzz is not installed: the fuzz targets are skipped (cargo install cargo-fuzz)"
fi
echo "reliability set: every step passed"
