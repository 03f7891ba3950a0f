#!/usr/bin/env bash
# Builds the chart tests' tools into a folder (deploy/setup.sh --test passes build/tools):
#   helm           helm.sh/helm/v3 at the version go.mod pins
#   manifestcheck  the offline validator in manifestcheck/ (same module, same go.sum)
#   kubernetes-api/<version>/  the OpenAPI v3 documents of each Kubernetes version in
#                  kubernetes-api.txt, from the k8s.io/kubernetes module (hash checked)
# Idempotent: each is rebuilt only when what it comes from is newer, or fetched when missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: install.sh OUTPUT_DIR}"
mkdir -p "$out"

go_cmd="$(command -v go || true)"
[ -n "$go_cmd" ] || [ ! -x /usr/local/go/bin/go ] || go_cmd=/usr/local/go/bin/go
need_go() {
  if [ -z "$go_cmd" ]; then
    echo "setup: Go >= 1.26 is needed to build helm for the chart tests (tests/tools/helm)" >&2
    exit 1
  fi
}
stale() {  # stale TARGET SOURCE...: the target is missing or older than a source
  local target="$1"; shift
  [ -e "$target" ] || return 0
  local src
  for src in "$@"; do [ "$src" -nt "$target" ] && return 0; done
  return 1
}

if stale "$out/helm" "$here/go.mod" "$here/go.sum"; then
  need_go
  echo "setup: building helm for the chart tests (a few minutes, once)"
  (cd "$here" && GOFLAGS=-mod=readonly "$go_cmd" build -o "$out/helm.tmp" helm.sh/helm/v3/cmd/helm)
  mv "$out/helm.tmp" "$out/helm"
fi

if stale "$out/manifestcheck" "$here/go.mod" "$here/go.sum" "$here"/manifestcheck/*.go; then
  need_go
  echo "setup: building manifestcheck for the chart tests"
  (cd "$here" && GOFLAGS=-mod=readonly "$go_cmd" build -o "$out/manifestcheck.tmp" ./manifestcheck)
  mv "$out/manifestcheck.tmp" "$out/manifestcheck"
fi

while read -r version hash; do
  case "$version" in ''|'#'*) continue ;; esac
  dest="$out/kubernetes-api/$version"
  [ -f "$dest/.complete" ] && continue
  need_go
  echo "setup: fetching the Kubernetes $version API documents (k8s.io/kubernetes from the Go module proxy)"
  info="$(cd "$here" && GOFLAGS=-mod=mod "$go_cmd" mod download -json "k8s.io/kubernetes@$version")"
  sum="$(printf '%s\n' "$info" | sed -n 's/.*"Sum": "\(.*\)".*/\1/p')"
  dir="$(printf '%s\n' "$info" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  if [ "$sum" != "$hash" ]; then
    echo "setup: k8s.io/kubernetes@$version has hash '$sum', kubernetes-api.txt pins '$hash'" >&2
    exit 1
  fi
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$dir"/api/openapi-spec/v3/*_openapi.json "$dest"/
  chmod u+w "$dest"/*.json
  touch "$dest/.complete"
done < "$here/kubernetes-api.txt"
