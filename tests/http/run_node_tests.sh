#!/usr/bin/env bash
# Runs the Node clients against the real daemon (tests/http/node): the official `openai` package
# against the mock provider, and the client matrix (the Vercel AI SDK, openai's Responses API) in
# front of the scripted upstream. Installs the pinned packages (node/package.json) under the
# build directory, once per pin change.
#
# Environment:
#   OUTRIGGER_BIN          the daemon binary
#   OUTRIGGER_PLUGIN_DIR   the built plugins
#   OUTRIGGER_BUILD_DIR    build directory; node_modules go to $OUTRIGGER_BUILD_DIR/http-node
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${OUTRIGGER_BIN:?set OUTRIGGER_BIN to the daemon binary}"
: "${OUTRIGGER_PLUGIN_DIR:?set OUTRIGGER_PLUGIN_DIR to the plugin directory}"
work="${OUTRIGGER_BUILD_DIR:-${TMPDIR:-/tmp}}/http-node"
mkdir -p "${work}"

if [[ ! -f "${work}/.installed" ]] || ! cmp -s "${work}/.installed" "${here}/node/package.json"; then
  cp "${here}/node/package.json" "${work}/package.json"
  (cd "${work}" && npm install --no-audit --no-fund --silent)
  cp "${here}/node/package.json" "${work}/.installed"
fi
cp "${here}"/node/*.mjs "${work}/"
export OUTRIGGER_UPSTREAM_SCRIPT="${here}/../upstream/upstream.py"
cd "${work}"
exec node --test --test-reporter=spec openai_sdk.test.mjs client_matrix.test.mjs
