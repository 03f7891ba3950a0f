#!/usr/bin/env bash
# Regenerates src/outrigger/wire/ from schemas/outrigger.fbs. The generated code is committed so
# that installing the package needs no flatc; run this after changing the schema.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
schema="${here}/../../schemas/outrigger.fbs"
flatc="${FLATC:-flatc}"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
"${flatc}" --python -o "${tmp}" "${schema}"
rm -rf "${here}/src/outrigger/wire"
cp -r "${tmp}/outrigger/wire" "${here}/src/outrigger/wire"
echo "regenerated src/outrigger/wire with $("${flatc}" --version)"
