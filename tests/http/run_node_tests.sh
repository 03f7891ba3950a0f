#!/usr/bin/env bash
# Runs the official `openai` Node package against the real daemon (tests/http/node).
# Installs the pinned package under the build directory, once per pin change.
#
# Environment:
#   OUTRIGGER_BIN          the daemon binary
#   OUTRIGGER_PLUGIN_DIR   the built plugins
#   OUTRIGGER_BUILD_DIR    build directory; node_modules go to $OUTRIGGER_BUILD_DIR/http-node
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${OUTRIGGER_BIN:?set OUTRIGGER_BIN to the daemon binary}"
: "${OUTRIGGER_PLUGIN_DIR:?set OUTRIGGER_PLUGIN_DIR to the plugin directory}"
openai_version="7.57.0"
work="${OUTRIGGER_BUILD_DIR:-${TMPDIR:-/tmp}}/http-node"
mkdir -p "${work}"

if [[ ! -f "${work}/.installed" || "$(cat "${work}/.installed")" != "${openai_version}" ]]; then
  sed "s/OPENAI_VERSION/${openai_version}/" "${here}/node/package.json" > "${work}/package.json"
  (cd "${work}" && npm install --no-audit --no-fund --silent)
  echo "${openai_version}" > "${work}/.installed"
fi
cp "${here}/node/openai_sdk.test.mjs" "${work}/"
cd "${work}"
exec node --test --test-reporter=spec openai_sdk.test.mjs
