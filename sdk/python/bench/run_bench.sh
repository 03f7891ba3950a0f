#!/usr/bin/env bash
# Runs bench/bench.py in the SDK's virtualenv (the one run_tests.sh uses), after installing the
# benchmark's own pinned dependency (httpx, for the HTTP/JSON half) only when the pins changed,
# and this package from a copy of the source tree. httpx is not a dependency of the package.
#
# Environment: OUTRIGGER_BIN (a daemon binary to start), OUTRIGGER_PY_VENV, OUTRIGGER_BUILD_DIR
# and PYTHON as in run_tests.sh. Arguments go to bench.py (see bench.py --help).
#
#   OUTRIGGER_BIN=build/release/bin/outrigger sdk/python/bench/run_bench.sh
#   sdk/python/bench/run_bench.sh --socket /run/outrigger/outrigger.sock --http-url http://127.0.0.1:8080/v1
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [[ -n "${OUTRIGGER_PY_VENV:-}" ]]; then
  venv="${OUTRIGGER_PY_VENV}"
elif [[ -n "${OUTRIGGER_BUILD_DIR:-}" ]]; then
  venv="${OUTRIGGER_BUILD_DIR}/python-venv"
else
  venv="${TMPDIR:-/tmp}/outrigger-py-venv"
fi

# The runtime pin (pyproject.toml), the build backend run_tests.sh pins, and the benchmark-only pin.
requirements=(
  "flatbuffers==2.0.7"
  "setuptools==75.3.0"
  "httpx==0.28.1"
)

if [[ ! -x "${venv}/bin/python" ]] || ! "${venv}/bin/python" -c "" 2>/dev/null; then
  rm -rf "${venv}"
  "${python}" -m venv "${venv}"
fi
py="${venv}/bin/python"

stamp="${venv}/.outrigger-bench-requirements"
wanted="$(printf '%s\n' "${requirements[@]}")"
if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${wanted}" ]]; then
  "${py}" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
  printf '%s\n' "${requirements[@]}" > "${stamp}"
fi

# Build from a copy so that nothing (build/, *.egg-info) is written into the source tree.
stage="${venv}/bench-stage"
rm -rf "${stage}"
mkdir -p "${stage}"
cp -R "${here}/pyproject.toml" "${here}/README.md" "${here}/src" "${stage}/"
"${py}" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall \
  "${stage}"

export PYTHONDONTWRITEBYTECODE=1
exec "${py}" "${here}/bench/bench.py" "$@"
