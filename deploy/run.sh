#!/usr/bin/env bash
# Installs what Outrigger needs, builds the release preset and serves on the embedded default
# config (mock provider, no API keys). Extra arguments go to `outrigger serve`, e.g.
#   deploy/run.sh --socket /tmp/o.sock      deploy/run.sh --config config/full.toml
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
exec build/release/bin/outrigger serve "$@"
