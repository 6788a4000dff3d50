#!/usr/bin/env bash
# The extended reliability set (docs/RELIABILITY.md): fault injection under
# stress, ThreadSanitizer over tmgc's unit tests and the stress harness,
# AddressSanitizer over the stress harness, then each fuzz target on its
# corpus. Needs the nightly toolchain with rust-src (rustup component add
# --toolchain nightly rust-src) and, for the fuzz targets, cargo-fuzz
# (cargo install cargo-fuzz). The soak is scripts/soak.sh.
#
#   scripts/reliability.sh [SANITIZER_SECONDS] [FUZZ_SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
asan_secs=${1:-300}
fuzz_secs=${2:-600}
target=x86_64-unknown-linux-gnu

echo "== fault injection under stress, ${asan_secs} s, 3 threads, verifier on"
cargo run --release -p tmgc-stress --features faults -- --duration "$asan_secs" --threads 3 --verify --fault-permille 20

echo "== ThreadSanitizer over tmgc's unit tests, then the stress harness (${asan_secs} s, faults armed)"
RUSTFLAGS="-Zsanitizer=thread" cargo +nightly test -Zbuild-std --target "$target" -p tmgc --lib \
  --target-dir target/tsan -- --test-threads 1 2>&1 | tee target/tsan-tests.out
RUSTFLAGS="-Zsanitizer=thread" cargo +nightly build -Zbuild-std --target "$target" --release \
  -p tmgc-stress --features faults --target-dir target/tsan
"target/tsan/$target/release/tmgc-stress" --duration "$asan_secs" --threads 4 --verify --fault-permille 10 \
  2>&1 | tee target/tsan-stress.out
if grep -q "WARNING: ThreadSanitizer" target/tsan-tests.out target/tsan-stress.out; then
  echo "ThreadSanitizer reported a race"; exit 1
fi

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
