#!/usr/bin/env bash
# guardrail.pii side by side with Presidio's analyzer: precision and recall per entity on the
# labelled corpus, MB/s per core on the mixed corpus, and the throughput ratio, in one table.
# A benchmark, not a test (Presidio takes minutes over the corpora): run it by hand on a quiet
# machine.
#
#   tests/pii/presidio/run.sh [extra compare.py flags, e.g. --sample-kb 600]
#
# Builds pii_eval and pii_bench in the release tree (OUTRIGGER_BUILD_DIR, default build/release)
# and installs the pinned Presidio and spaCy model (requirements.txt) from PyPI into a
# virtualenv under build/presidio, once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
build="${OUTRIGGER_BUILD_DIR:-${root}/build/release}"

source "${root}/tests/http/python_venv.sh"
mapfile -t pins < <(grep -v '^#' "${here}/requirements.txt")
ensure_venv "${root}/build/presidio/venv" "${pins[@]}"

if [[ ! -f "${build}/build.ninja" ]]; then
  (cd "${root}" && cmake --preset release >/dev/null)
fi
cmake --build "${build}" --target pii_eval pii_bench >/dev/null

# One thread each: spaCy's numpy would otherwise spread its matrix work over the cores.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
"${root}/build/presidio/venv/bin/python" "${here}/compare.py" \
  --pii-eval "${build}/bin/pii_eval" --pii-bench "${build}/bin/pii_bench" \
  --labelled "${root}/tests/pii/corpus.jsonl" --mixed "${root}/tests/pii/bench_corpus.jsonl" "$@"
