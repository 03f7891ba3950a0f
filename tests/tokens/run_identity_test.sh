#!/usr/bin/env bash
# Runs identity_test.py with Python tiktoken from a pinned virtualenv under the build directory.
#   run_identity_test.sh TOKENS_ENCODE TIKTOKEN_DIR VENV_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="$("${here}/tiktoken_venv.sh" "$3")"
export PYTHONDONTWRITEBYTECODE=1
exec "${python}" "${here}/identity_test.py" "$1" "$2"
