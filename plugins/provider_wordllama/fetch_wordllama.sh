#!/usr/bin/env bash
# Fetches the model provider.wordllama embeds with: the tokenizer and fp16 embedding table the
# PyPI wheel `wordllama` (MIT, dleemiller/WordLlama) ships inside it, at the pinned version,
# through pip's own client. The wheel's SHA-256 is checked before anything is unpacked.
# Idempotent and offline once DEST holds the files.
#   fetch_wordllama.sh DEST
set -euo pipefail
version=0.4.0.post1
wheel="wordllama-${version}-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
sha256=42c2c88907ace0b0681ac6f9092d6a300a6409a5d2d61071a3fb5e7159370c97
dest="${1:?usage: fetch_wordllama.sh DEST}"
files=(wordllama/tokenizers/l2_supercat_tokenizer_config.json wordllama/weights/l2_supercat_256.safetensors)

have_all=1
for f in "${files[@]}"; do [ -f "$dest/$(basename "$f")" ] || have_all=0; done
[ "$have_all" = 1 ] && exit 0

pip_cmd=(python3 -m pip)
"${pip_cmd[@]}" --version >/dev/null 2>&1 || { echo "fetch_wordllama: pip is needed to fetch wordllama==$version" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The wheel holds data files only for this use: pin its platform tags so any local Python gets
# the same file (and the same hash).
"${pip_cmd[@]}" download --quiet --no-deps --only-binary=:all: --python-version 3.11 --implementation cp \
  --platform manylinux2014_x86_64 -d "$tmp" "wordllama==$version"
echo "$sha256  $tmp/$wheel" | sha256sum --check --quiet
mkdir -p "$dest"
python3 - "$tmp/$wheel" "$dest" "${files[@]}" <<'PY'
import os, sys, zipfile
wheel, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        out = os.path.join(dest, os.path.basename(name))
        with z.open(name) as src, open(out + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.replace(out + ".tmp", out)
PY
echo "fetch_wordllama: wordllama==$version model files in $dest"
