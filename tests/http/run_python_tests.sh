#!/usr/bin/env bash
# Runs the official `openai` and `anthropic` Python packages against the real daemon (tests/http/python).
# Installs the pinned packages into a virtualenv under the build directory, once per pin change.
#
# Environment:
#   OUTRIGGER_BIN          the daemon binary
#   OUTRIGGER_PLUGIN_DIR   the built plugins
#   OUTRIGGER_BUILD_DIR    build directory; the virtualenv goes to $OUTRIGGER_BUILD_DIR/http-venv
#   PYTHON                 interpreter for the virtualenv (default python3)
# Extra arguments go to pytest.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${OUTRIGGER_BIN:?set OUTRIGGER_BIN to the daemon binary}"
: "${OUTRIGGER_PLUGIN_DIR:?set OUTRIGGER_PLUGIN_DIR to the plugin directory}"
venv="${OUTRIGGER_BUILD_DIR:-${TMPDIR:-/tmp}}/http-venv"
requirements=("openai==3.54.0" "anthropic==2.12.0" "pytest==9.2.0" "pytest-timeout==2.4.0")

source "${here}/python_venv.sh"
ensure_venv "${venv}" "${requirements[@]}"

export PYTHONDONTWRITEBYTECODE=1
exec "${venv}/bin/python" -m pytest -p no:cacheprovider --rootdir "${here}/python" --timeout 60 -ra \
  "${here}/python" "$@"
