#!/usr/bin/env bash
# Makes (once) the virtualenv holding the pinned Python tiktoken that the identity test and
# tokens_bench compare against, and prints its interpreter.
#   tiktoken_venv.sh VENV_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/../http/python_venv.sh"
ensure_venv "$1" "tiktoken==0.14.0" >&2
echo "$1/bin/python"
