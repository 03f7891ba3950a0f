#!/usr/bin/env bash
# Installs what Outrigger needs, builds the debug preset and runs every test through CTest:
# C++ unit and integration tests, each SDK's own suite, and the fuzz smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh --test
cmake --preset debug >/dev/null
cmake --build --preset debug -j"$(nproc)"
ctest --preset debug -j"$(nproc)"
