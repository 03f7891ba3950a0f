#!/usr/bin/env bash
# Installs the Python SDK and its test tools into a virtualenv outside the source tree, then runs
# mypy --strict on the package and pytest on tests/.
#
# Environment:
#   OUTRIGGER_BIN              the daemon binary; integration tests skip without it
#   OUTRIGGER_FRAME_DESCRIBE   the C++ frame_describe tool; its cross-check skips without it
#   OUTRIGGER_BUILD_DIR        build directory; the virtualenv goes to $OUTRIGGER_BUILD_DIR/python-venv
#   OUTRIGGER_PY_VENV          explicit virtualenv path (default: see above, else $TMPDIR/outrigger-py-venv)
#   PYTHON                     interpreter to create the virtualenv with (default python3, 3.9 or newer)
# Extra arguments go to pytest (for example -k streaming).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
if [[ -n "${OUTRIGGER_PY_VENV:-}" ]]; then
  venv="${OUTRIGGER_PY_VENV}"
elif [[ -n "${OUTRIGGER_BUILD_DIR:-}" ]]; then
  venv="${OUTRIGGER_BUILD_DIR}/python-venv"
else
  venv="${TMPDIR:-/tmp}/outrigger-py-venv"
fi

# Pinned test tools; the runtime dependency is pinned in pyproject.toml.
requirements=(
  "flatbuffers==2.0.7"
  "setuptools==75.3.0"
  "pytest==8.4.2"
  "pytest-timeout==2.4.0"
  "mypy==1.19.1"
)

"${python}" - <<'EOF'
import sys
if sys.version_info < (3, 9):
    sys.exit("the Python SDK needs Python 3.9 or newer, found %s" % sys.version.split()[0])
EOF

if [[ ! -x "${venv}/bin/python" ]] || ! "${venv}/bin/python" -c "" 2>/dev/null; then
  rm -rf "${venv}"
  "${python}" -m venv "${venv}"
fi
py="${venv}/bin/python"

# Install the tools only when the pins changed (fast re-runs), the package every time (it may have).
stamp="${venv}/.outrigger-requirements"
wanted="$(printf '%s\n' "${requirements[@]}")"
if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${wanted}" ]]; then
  "${py}" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
  printf '%s\n' "${requirements[@]}" > "${stamp}"
fi

# Build from a copy so that nothing (build/, *.egg-info) is written into the source tree.
stage="${venv}/stage"
rm -rf "${stage}"
mkdir -p "${stage}"
cp -R "${here}/pyproject.toml" "${here}/README.md" "${here}/src" "${stage}/"
"${py}" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall \
  "${stage}"

export PYTHONDONTWRITEBYTECODE=1
cd "${here}"
echo "== mypy --strict"
"${py}" -m mypy --strict --cache-dir "${venv}/mypy-cache" --config-file "${here}/pyproject.toml"

echo "== pytest"
# `outrigger` resolves to the installed copy: the sources sit under src/, which is not on sys.path.
export OUTRIGGER_VECTORS="${OUTRIGGER_VECTORS:-${here}/../../schemas/vectors}"
"${py}" -m pytest -p no:cacheprovider --rootdir "${here}" -c "${here}/pyproject.toml" --timeout 120 -ra \
  "${here}/tests" "$@"
