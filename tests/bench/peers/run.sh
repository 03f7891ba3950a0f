#!/usr/bin/env bash
# Side-by-side benchmark: Portkey's gateway and the LiteLLM proxy in front of the same fast
# OpenAI-shaped mock upstream, and Outrigger's HTTP front, driven by the same load generator.
# Prints throughput, p50/p99, added p50 over the direct upstream, and RSS of each proxy.
# A benchmark, not a test: run it by hand, in the foreground, on an otherwise idle machine.
#
#   tests/bench/peers/run.sh [seconds per run, default 10]
#
# Environment: OUTRIGGER_BIN (default build/release/bin/outrigger), OUTRIGGER_PLUGIN_DIR,
# BENCH_DIR (installs and logs; default build/bench-peers).
#
# FAIRNESS: Outrigger has no OpenAI-over-HTTP provider yet, so it cannot call the mock upstream.
# Its rows use the in-process mock provider instead (no upstream hop at all); they measure the
# HTTP front and the chain, and are NOT comparable with the peers' rows. The issue's targets
# (added p50 vs Portkey and LiteLLM, throughput at 64) can only be judged once Outrigger sits in
# front of the same upstream.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
seconds="${1:-10}"
bin="${OUTRIGGER_BIN:-${root}/build/release/bin/outrigger}"
plugins="${OUTRIGGER_PLUGIN_DIR:-$(dirname "$(dirname "${bin}")")/lib/outrigger/plugins}"
work="${BENCH_DIR:-${root}/build/bench-peers}"
mkdir -p "${work}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "${p}" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_http() {  # url
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "not reachable: $1" >&2; return 1
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
run_load() {  # name url model pid
  for c in 1 64; do
    out="$(node "${here}/load.mjs" "$2" "${c}" "${seconds}" "$3")"
    echo "$1 ${out} rss_kb=$( [[ -n "$4" ]] && rss_kb "$4" || echo -)"
  done
}

# --- installs (idempotent) ---------------------------------------------------------------
if [[ ! -x "${work}/node_modules/.bin/portkey-gateway" && ! -d "${work}/node_modules/@portkey-ai/gateway" ]]; then
  (cd "${work}" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent @portkey-ai/gateway)
fi
if [[ ! -x "${work}/litellm-venv/bin/litellm" ]]; then
  python3 -m venv "${work}/litellm-venv"
  "${work}/litellm-venv/bin/pip" install --quiet "litellm[proxy]"
fi

# --- the shared upstream and the direct baseline -------------------------------------------
node "${here}/mock_upstream.mjs" 18080 & pids+=($!)
wait_http http://127.0.0.1:18080/v1/models
run_load "direct" http://127.0.0.1:18080/v1/chat/completions bench-model ""

# --- Portkey gateway (listens on 8787; routes by headers to the mock upstream) ---------------
(cd "${work}" && exec npx --no-install @portkey-ai/gateway > "${work}/portkey.log" 2>&1) & pids+=($!)
portkey_pid=$!
wait_http http://127.0.0.1:8787/
BENCH_HEADERS='{"x-portkey-provider":"openai","x-portkey-custom-host":"http://127.0.0.1:18080/v1"}' \
  run_load "portkey" http://127.0.0.1:8787/v1/chat/completions bench-model "$(pgrep -n -P "${portkey_pid}" || echo "${portkey_pid}")"

# --- LiteLLM proxy -------------------------------------------------------------------------
cat > "${work}/litellm.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:18080/v1
      api_key: sk-unused
YAML
"${work}/litellm-venv/bin/litellm" --config "${work}/litellm.yaml" --port 14000 > "${work}/litellm.log" 2>&1 & pids+=($!)
litellm_pid=$!
wait_http http://127.0.0.1:14000/health/liveliness
run_load "litellm" http://127.0.0.1:14000/v1/chat/completions bench-model "${litellm_pid}"

# --- Outrigger (in-process mock provider: see FAIRNESS above) -------------------------------
cat > "${work}/outrigger.toml" <<TOML
[server]
socket = "${work}/o.sock"
[http]
listen = "127.0.0.1:18090"
[plugins]
dirs = ["${plugins}"]
[instances.mock]
type = "provider.mock"
[instances.mock.config]
mode = "fixed"
text = "hello from the mock upstream"
[routes.bench-model]
provider = "mock"
TOML
"${bin}" serve --config "${work}/outrigger.toml" > "${work}/outrigger.log" 2>&1 & pids+=($!)
outrigger_pid=$!
wait_http http://127.0.0.1:18090/v1/models
run_load "outrigger(in-process-mock,NOT-COMPARABLE)" http://127.0.0.1:18090/v1/chat/completions bench-model "${outrigger_pid}"
