#!/usr/bin/env bash
# Builds the frame-decoder fuzzer with clang (libFuzzer + ASan + UBSan) and runs it for a
# bounded time, seeded with the shared vectors. Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
seconds="${1:-60}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${OUTRIGGER_FUZZ_BUILD_DIR:-$src/build/fuzz}"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DOUTRIGGER_BUILD_FUZZ=ON -DOUTRIGGER_BUILD_TESTS=ON -DOUTRIGGER_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target frame_fuzz >/dev/null
corpus="$build/fuzz-corpus"
mkdir -p "$corpus"
cp "$src"/schemas/vectors/*.bin "$corpus"/
"$build/bin/frame_fuzz" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 \
  -print_final_stats=1 -artifact_prefix="$build/" "$corpus" 2>&1 | tail -n 12
echo "fuzz: ran ${seconds}s without a crash"
