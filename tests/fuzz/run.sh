#!/usr/bin/env bash
# Builds a fuzz target with clang (libFuzzer + ASan + UBSan) and runs it for a bounded time from
# its seed corpus: the shared vectors for frame_fuzz, tests/fuzz/corpus/<name> for the JSON
# targets (with the JSON dictionary). Crashes are written to the build directory.
# Usage: tests/fuzz/run.sh [SECONDS] [frame_fuzz | http_body_fuzz | extras_fuzz | sse_fuzz | response_fuzz |
#        config_fuzz | schema_fuzz | caller_schema_fuzz | content_fuzz | pii_fuzz | tokens_fuzz |
#        otlp_fuzz | wordpiece_fuzz]
set -euo pipefail
seconds="${1:-60}"
target="${2:-frame_fuzz}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${OUTRIGGER_FUZZ_BUILD_DIR:-$src/build/fuzz}"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DOUTRIGGER_BUILD_FUZZ=ON -DOUTRIGGER_BUILD_TESTS=ON -DOUTRIGGER_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target "$target" >/dev/null
corpus="$build/fuzz-corpus/$target"
mkdir -p "$corpus"
options=()
if [ "$target" = frame_fuzz ]; then
  cp "$src"/schemas/vectors/*.bin "$corpus"/
else
  cp "$src/tests/fuzz/corpus/${target%_fuzz}"/* "$corpus"/
  case "$target" in
    sse_fuzz | config_fuzz | content_fuzz | tokens_fuzz | otlp_fuzz | wordpiece_fuzz) ;;  # text of their own: no JSON dictionary
    pii_fuzz) options+=(-dict="$src/tests/fuzz/pii.dict") ;;
    *) options+=(-dict="$src/tests/fuzz/json.dict") ;;
  esac
fi
"$build/bin/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 \
  -print_final_stats=1 -artifact_prefix="$build/$target-" "${options[@]}" "$corpus" 2>&1 | tail -n 12
echo "fuzz: $target ran ${seconds}s without a crash"
