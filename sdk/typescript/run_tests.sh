#!/usr/bin/env bash
# Installs the TypeScript SDK's dependencies (only when the lock file changed), builds the
# package and its tests, and runs them with node's test runner.
#
# OUTRIGGER_BIN            the daemon binary; integration tests skip without it
# OUTRIGGER_FRAME_DESCRIBE the C++ frame_describe tool; the encode cross-check skips without it
set -euo pipefail

# Resolve tool paths before changing directory, so relative paths keep working.
for var in OUTRIGGER_BIN OUTRIGGER_FRAME_DESCRIBE; do
  if [[ -n "${!var:-}" ]]; then
    if [[ ! -x "${!var}" ]]; then
      echo "run_tests.sh: $var=${!var} is not an executable file" >&2
      exit 1
    fi
    export "$var=$(cd "$(dirname "${!var}")" && pwd)/$(basename "${!var}")"
  fi
done

cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "run_tests.sh: node and npm are required (Node.js 20 or newer)" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 20 )); then
  echo "run_tests.sh: Node.js 20 or newer is required, found $(node --version)" >&2
  exit 1
fi

# npm ci wipes node_modules, so run it only when the lock file differs from the last install.
stamp=node_modules/.outrigger-install-stamp
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

rm -rf build
npx --no-install tsc -p tsconfig.build.json
npx --no-install tsc -p tsconfig.json
node --test build/test/*.test.js
