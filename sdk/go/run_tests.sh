#!/usr/bin/env bash
# Checks the Go SDK: formatting, go vet, and go test over every package.
#
# Unit tests always run (shared vectors in schemas/vectors, a fake in-process sidecar).
# Integration tests run against the daemon when OUTRIGGER_BIN names its binary, and frames the
# SDK builds are cross-checked by the C++ reader when OUTRIGGER_FRAME_DESCRIBE names the
# frame_describe tool; without them those tests are skipped with the reason.
set -euo pipefail

# Resolve tool paths before leaving the caller's directory.
for var in OUTRIGGER_BIN OUTRIGGER_FRAME_DESCRIBE; do
  if [[ -n "${!var:-}" ]]; then
    if [[ ! -x "${!var}" ]]; then
      echo "run_tests.sh: $var=${!var} is not an executable file" >&2
      exit 1
    fi
    export "$var=$(realpath "${!var}")"
  fi
done

cd "$(dirname "${BASH_SOURCE[0]}")"
command -v go >/dev/null || { echo "run_tests.sh: go is not installed" >&2; exit 1; }

# Dependencies: the modules pinned in go.mod, checked against go.sum. Idempotent.
go mod download
go mod verify

unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
  echo "run_tests.sh: files need gofmt:" >&2
  echo "$unformatted" >&2
  exit 1
fi

go vet ./...

# The race detector needs cgo and a C compiler.
race=()
if [[ "$(go env CGO_ENABLED)" == "1" ]] && command -v "$(go env CC)" >/dev/null; then
  race=(-race)
else
  echo "run_tests.sh: no C compiler for cgo, running without -race"
fi

go test -count=1 "${race[@]}" -timeout 180s ./...
