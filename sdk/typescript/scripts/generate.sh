#!/usr/bin/env bash
# Regenerates src/generated/outrigger_generated.ts from schemas/outrigger.fbs.
#
# The generated file is committed so that installing the package needs no flatc. Run this after
# changing the schema, with the same flatc major the rest of the project uses (2.0.x), and commit
# the result. FLATC overrides the compiler path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
schema="$here/../../schemas/outrigger.fbs"
flatc="${FLATC:-flatc}"

version="$("$flatc" --version)"
case "$version" in
  "flatc version 2.0."*) ;;
  *) echo "generate.sh: expected flatc 2.0.x, found: $version" >&2; exit 1 ;;
esac

# One flat file: its only import is the `flatbuffers` runtime, so it compiles as an ES module
# under NodeNext resolution without rewriting relative import paths.
"$flatc" --ts --ts-flat-files -o "$here/src/generated" "$schema"
echo "wrote src/generated/outrigger_generated.ts with $version"
