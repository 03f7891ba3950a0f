#!/usr/bin/env bash
# Rewrites tests/onnx/data from the Python libraries (make_golden.py), in a virtualenv with the
# pinned onnxruntime and tokenizers. On demand, when the model or the corpus changes; the tests
# read the committed files.
#   make_golden.sh [MODEL_DIR]   (default build/tools/minilm-l6-v2-q, where fetch_minilm.sh puts it)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model="${1:-${here}/../../build/tools/minilm-l6-v2-q}"
venv="${here}/../../build/onnx-golden-venv"
source "${here}/../http/python_venv.sh"
ensure_venv "${venv}" "onnxruntime==1.20.1" "tokenizers==0.23.3" "numpy==2.4.6"
exec "${venv}/bin/python" "${here}/make_golden.py" "${model}"
