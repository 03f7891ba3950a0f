#!/usr/bin/env bash
# Fetches the BPE rank files guardrail.tokens compiles in: the encoders of the npm `tiktoken`
# package (MIT, dqbd/tiktoken) at the pinned version, through npm's own client. Idempotent: does
# nothing when DEST already holds them. The build checks their SHA-256 (CMakeLists.txt), so a
# different or altered package fails the build rather than changing token counts.
#   fetch_tiktoken_data.sh DEST
set -euo pipefail
version=1.0.22
dest="${1:?usage: fetch_tiktoken_data.sh DEST}"
files=(encoders/o200k_base.json encoders/cl100k_base.json)

have_all=1
for f in "${files[@]}"; do [ -f "$dest/$f" ] || have_all=0; done
[ "$have_all" = 1 ] && exit 0

command -v npm >/dev/null || { echo "fetch_tiktoken_data: npm is needed to fetch tiktoken@$version" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "tiktoken@$version" >/dev/null)
mkdir -p "$tmp/x" "$dest/encoders"
tar -xzf "$tmp/tiktoken-$version.tgz" -C "$tmp/x" package/package.json "${files[@]/#/package/}"
cp "$tmp/x/package/package.json" "$dest/package.json"
for f in "${files[@]}"; do cp "$tmp/x/package/$f" "$dest/$f.tmp" && mv "$dest/$f.tmp" "$dest/$f"; done
echo "fetch_tiktoken_data: tiktoken@$version encoders in $dest"
