#!/usr/bin/env bash
# Regenerates the wire package from schemas/outrigger.fbs. The output is committed, so users of
# the module need neither flatc nor this script; run it after changing the schema.
# Needs flatc 2.0.8 (the runtime pinned in go.mod matches that version's output).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
schema="$here/../../schemas/outrigger.fbs"
flatc_bin="${FLATC:-flatc}"
version="$("$flatc_bin" --version)"
case "$version" in
  *" 2.0.8") ;;
  *) echo "generate.sh: need flatc 2.0.8, found: $version" >&2; exit 1 ;;
esac
rm -f "$here"/wire/*.go
"$flatc_bin" --go --go-namespace wire -o "$here" "$schema"
gofmt -l -w "$here/wire" >/dev/null
echo "regenerated $(ls "$here"/wire/*.go | wc -l) files in wire/"
