#!/usr/bin/env bash
# Runs the Python client matrix (tests/http/matrix): langchain-openai, the LiteLLM SDK and
# instructor against the real daemon in front of the scripted upstream. Its own virtualenv, since
# instructor caps jiter below 0.15 and the openai releases after 3.3.0 need a newer one: the
# official-SDK suite (run_python_tests.sh) keeps the newest openai.
#
# Environment:
#   OUTRIGGER_BIN          the daemon binary
#   OUTRIGGER_PLUGIN_DIR   the built plugins
#   OUTRIGGER_BUILD_DIR    build directory; the virtualenv goes to $OUTRIGGER_BUILD_DIR/http-matrix-venv
#   PYTHON                 interpreter for the virtualenv (default python3)
# Extra arguments go to pytest.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${OUTRIGGER_BIN:?set OUTRIGGER_BIN to the daemon binary}"
: "${OUTRIGGER_PLUGIN_DIR:?set OUTRIGGER_PLUGIN_DIR to the plugin directory}"
venv="${OUTRIGGER_BUILD_DIR:-${TMPDIR:-/tmp}}/http-matrix-venv"
requirements=("openai==3.3.0" "langchain-openai==1.8.1" "langchain-core==1.8.3" "litellm==1.110.2"
              "instructor==1.17.0" "pydantic==2.14.4" "pytest==9.2.0" "pytest-timeout==2.4.0")

source "${here}/python_venv.sh"
ensure_venv "${venv}" "${requirements[@]}"

export PYTHONDONTWRITEBYTECODE=1
export LITELLM_LOCAL_MODEL_COST_MAP=True  # LiteLLM's price map from the package, not downloaded
exec "${venv}/bin/python" -m pytest -p no:cacheprovider --rootdir "${here}/matrix" --timeout 60 -ra \
  "${here}/matrix" "$@"
