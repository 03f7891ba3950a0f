# Sourced by the Python runners: ensure_venv DIR REQUIREMENT... makes a virtualenv at DIR holding
# exactly the pinned requirements, reinstalling only when the pins change. PYTHON picks the
# interpreter (default python3).
ensure_venv() {
  local venv="$1"
  shift
  if [[ ! -x "${venv}/bin/python" ]] || ! "${venv}/bin/python" -c "" 2>/dev/null; then
    rm -rf "${venv}"
    "${PYTHON:-python3}" -m venv "${venv}"
  fi
  local stamp="${venv}/.outrigger-requirements"
  local wanted
  wanted="$(printf '%s\n' "$@")"
  if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${wanted}" ]]; then
    "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    printf '%s\n' "$@" > "${stamp}"
  fi
}
