#!/usr/bin/env bash
# Runs identity_test.py with Python tiktoken from a pinned virtualenv under the build directory.
#   run_identity_test.sh TOKENS_ENCODE TIKTOKEN_DIR VENV_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/../http/python_venv.sh"
ensure_venv "$3" "tiktoken==0.14.0"
export PYTHONDONTWRITEBYTECODE=1
exec "$3/bin/python" "${here}/identity_test.py" "$1" "$2"
