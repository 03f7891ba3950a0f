#!/usr/bin/env bash
# Side-by-side benchmark: Outrigger, Portkey's gateway and the LiteLLM proxy, each in front of the
# same fast OpenAI-shaped upstream, driven by the same closed-loop load generator (wrk) at 1 and
# 64 concurrent requests. Prints throughput, p50/p99, the p50 each adds over calling the upstream
# directly (same run), the RSS of each server process, and the verdict on the issue's targets.
# A benchmark, not a test: run it by hand, in the foreground, on an otherwise idle machine.
#
#   tests/bench/peers/run.sh [seconds per measured run, default 10]
#
# Environment:
#   OUTRIGGER_BUILD_DIR   build tree (default build/); installs and logs go to its peers/ folder
#   OUTRIGGER_BIN         default $OUTRIGGER_BUILD_DIR/release/bin/outrigger (bench_upstream beside it)
#   OUTRIGGER_PLUGIN_DIR  default <bin>/../../lib/outrigger/plugins
#   BENCH_DIR             installs, configs, logs, results (default $OUTRIGGER_BUILD_DIR/peers)
#   BENCH_WARMUP          seconds of unmeasured load before each target's runs (default 2)
#   BENCH_BUSY_POLL_US    busy_poll_us of the second Outrigger row (default 100; 0 skips the row)
#   PORTKEY_VERSION, LITELLM_VERSION   pinned peer versions (defaults below)
#
# Outrigger's rows: when the plugin directory has provider.openai, Outrigger's route forwards to
# the upstream like the peers do, and the targets are judged. Without it, the rows use the
# in-process mock provider (no upstream hop), are labelled NOT-COMPARABLE, and the targets are
# reported as not judgeable.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
seconds="${1:-10}"
warmup="${BENCH_WARMUP:-2}"
busy_poll_us="${BENCH_BUSY_POLL_US:-100}"
build="${OUTRIGGER_BUILD_DIR:-build}"
[[ "${build}" = /* ]] || build="${root}/${build}"
bin="${OUTRIGGER_BIN:-${build}/release/bin/outrigger}"
[[ "${bin}" = /* ]] || bin="${root}/${bin}"
plugins="${OUTRIGGER_PLUGIN_DIR:-$(dirname "$(dirname "${bin}")")/lib/outrigger/plugins}"
work="${BENCH_DIR:-${build}/peers}"
# 1.82.7 and 1.82.8 of litellm on PyPI were a supply-chain compromise; stay on a pinned release.
portkey_version="${PORTKEY_VERSION:-1.15.2}"
litellm_version="${LITELLM_VERSION:-1.82.6}"
upstream_port=18080 portkey_port=18787 litellm_port=14000 outrigger_port=18090
mkdir -p "${work}"
results="${work}/results.jsonl"
: > "${results}"
source "${here}/processes.sh"
stop() {  # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# RSS of the server process and its descendants (worker processes, if any), in kB.
tree_pids() { echo "$1"; for c in $(pgrep -P "$1" 2>/dev/null); do tree_pids "${c}"; done; }
mem_kb() {  # pid field
  local total=0 v
  for p in $(tree_pids "$1"); do
    v="$(awk -v f="$2:" '$1 == f {print $2}' "/proc/${p}/status" 2>/dev/null || true)"
    total=$((total + ${v:-0}))
  done
  echo "${total}"
}
record_failure() {  # name why
  for c in 1 64; do
    printf '{"name":"%s","concurrency":%d,"failed":"%s"}\n' "$1" "${c}" "$2" >> "${results}"
  done
  echo "$1: FAILED: $2" >&2
}
# wrk, closed loop on keep-alive connections (one thread, C connections, each sending its next
# request when the last one returned); the Lua script sends the chat completion with the extra
# headers in BENCH_HEADERS (name: value lines) and prints one machine-readable line at the end.
write_lua() {  # file
  {
    echo 'wrk.method = "POST"'
    echo "wrk.body = '{\"model\":\"bench-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hello from the load generator\"}]}'"
    echo 'wrk.headers["content-type"] = "application/json"'
    echo 'wrk.headers["authorization"] = "Bearer sk-bench"'
    while IFS=: read -r name value; do
      [[ -n "${name}" ]] && echo "wrk.headers[\"${name}\"] = \"${value# }\""
    done <<< "${BENCH_HEADERS:-}"
    cat <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d errors=%d duration_us=%d p50_us=%d p99_us=%d\n", summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))
end
LUA
  } > "$1"
}
run_wrk() {  # url concurrency seconds -> "requests errors duration_us p50_us p99_us"
  local lua="${work}/wrk.lua" line
  write_lua "${lua}"
  line="$(wrk -t1 -c"$2" -d"$3"s --timeout 10s -s "${lua}" "$1" | grep '^RESULT ')"
  sed -E 's/RESULT requests=([0-9]+) errors=([0-9]+) duration_us=([0-9]+) p50_us=([0-9]+) p99_us=([0-9]+)/\1 \2 \3 \4 \5/' <<< "${line}"
}
run_load() {  # name comparable(true|false) url pid
  local c requests errors duration p50 p99
  if [[ "${warmup}" != 0 ]]; then run_wrk "$3" 64 "${warmup}" > /dev/null; fi
  for c in 1 64; do
    read -r requests errors duration p50 p99 <<< "$(run_wrk "$3" "${c}" "${seconds}")"
    local rss=0 hwm=0
    if [[ -n "$4" ]]; then rss="$(mem_kb "$4" VmRSS)"; hwm="$(mem_kb "$4" VmHWM)"; fi
    local line
    line="$(awk -v n="$1" -v cmp="$2" -v c="${c}" -v r="${requests}" -v e="${errors}" -v d="${duration}" \
      -v p50="${p50}" -v p99="${p99}" -v rss="${rss}" -v hwm="${hwm}" 'BEGIN {
        printf "{\"name\":\"%s\",\"comparable\":%s,\"concurrency\":%d,\"requests\":%d,\"errors\":%d,\"rps\":%.1f,", n, cmp, c, r, e, r / (d / 1e6);
        printf "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"rss_kb\":%d,\"hwm_kb\":%d}\n", p50 / 1000, p99 / 1000, rss, hwm }')"
    echo "${line}" >> "${results}"
    echo "  ${line}" >&2
  done
}

for p in "${upstream_port}" "${portkey_port}" "${litellm_port}" "${outrigger_port}"; do
  port_free "${p}" || { echo "port ${p} is in use; stop whatever listens there first" >&2; exit 1; }
done

# --- installs (idempotent, pinned) -----------------------------------------------------------
if ! command -v wrk > /dev/null; then
  echo "installing wrk (Debian package)" >&2
  sudo_cmd=""; [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends wrk
fi
portkey_dir="${work}/portkey"
portkey_js="${portkey_dir}/node_modules/@portkey-ai/gateway/build/start-server.js"
installed="$(node -p "require('${portkey_dir}/node_modules/@portkey-ai/gateway/package.json').version" 2>/dev/null || true)"
if [[ "${installed}" != "${portkey_version}" ]]; then
  echo "installing @portkey-ai/gateway@${portkey_version}" >&2
  mkdir -p "${portkey_dir}"
  [[ -f "${portkey_dir}/package.json" ]] || echo '{"name":"bench-peers-portkey","private":true}' > "${portkey_dir}/package.json"
  (cd "${portkey_dir}" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "@portkey-ai/gateway@${portkey_version}")
fi
venv="${work}/litellm-venv"
installed="$("${venv}/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true)"
if [[ "${installed}" != "${litellm_version}" ]]; then
  echo "installing litellm[proxy]==${litellm_version}" >&2
  [[ -x "${venv}/bin/python" ]] || python3 -m venv "${venv}"
  "${venv}/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==${litellm_version}"
fi
if compgen -G "${venv}/lib/python*/site-packages/litellm_init.pth" > /dev/null; then
  echo "litellm_init.pth found in ${venv}: a compromised litellm build; delete the venv" >&2; exit 1
fi

# --- Outrigger: snapshot the binaries and plugins (a rebuild during the run must not change them)
snap="${work}/outrigger-snapshot"
for _ in $(seq 1 60); do [[ -x "${bin}" && -f "${plugins}/provider_mock.so" ]] && break; sleep 5; done
[[ -x "${bin}" ]] || { echo "no Outrigger binary at ${bin}" >&2; exit 1; }
[[ -x "$(dirname "${bin}")/bench_upstream" ]] || { echo "no bench_upstream beside ${bin}; build the release preset" >&2; exit 1; }
rm -rf "${snap}" && mkdir -p "${snap}/plugins"
cp "${bin}" "${snap}/outrigger" && cp "$(dirname "${bin}")/bench_upstream" "${snap}/" && cp "${plugins}"/*.so "${snap}/plugins/"
plugin_list="$("${snap}/outrigger" plugins --dir "${snap}/plugins" 2>/dev/null || true)"
if grep -qx 'provider\.openai' <<< "${plugin_list}"; then
  outrigger_mode=openai comparable=true label=""
else
  outrigger_mode=mock comparable=false label="(in-process-mock,NOT-COMPARABLE)"
fi

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds} s per run, ${warmup} s warm-up, $(nproc) cores, $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), node $(node --version), $(python3 --version)"
echo "# portkey gateway ${portkey_version} (--headless), litellm[proxy] ${litellm_version} (defaults, 1 worker)"
echo "# $("${snap}/outrigger" version 2>/dev/null | head -1) from $(rel "${bin}"), provider: ${outrigger_mode}"
[[ "${bin}" == */release/* ]] || echo "# note: Outrigger is not a release build here; its figures are pessimistic"

# --- the shared upstream and the direct baseline ---------------------------------------------
(exec "${snap}/bench_upstream" "${upstream_port}") & upstream_pid=$!; pids+=("${upstream_pid}")
wait_http "http://127.0.0.1:${upstream_port}/v1/models" "${upstream_pid}"
echo "direct: bench_upstream" >&2
run_load direct true "http://127.0.0.1:${upstream_port}/v1/chat/completions" ""

# --- Portkey gateway: routed by headers to the upstream (a trusted custom host) --------------
echo "portkey" >&2
(cd "${portkey_dir}" && exec node "${portkey_js}" "--port=${portkey_port}" --headless) > "${work}/portkey.log" 2>&1 &
portkey_pid=$!; pids+=("${portkey_pid}")
if wait_http "http://127.0.0.1:${portkey_port}/" "${portkey_pid}"; then
  BENCH_HEADERS="x-portkey-provider: openai
x-portkey-custom-host: http://127.0.0.1:${upstream_port}/v1" \
    run_load portkey true "http://127.0.0.1:${portkey_port}/v1/chat/completions" "${portkey_pid}"
else
  record_failure portkey "did not start (see portkey.log)"
fi
stop "${portkey_pid}"

# --- LiteLLM proxy: one model_list entry for the OpenAI-compatible upstream -----------------
echo "litellm" >&2
cat > "${work}/litellm.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:${upstream_port}/v1
      api_key: sk-bench-unused
YAML
# The local model cost map: no fetch of the remote one at start (this machine has no network).
(LITELLM_LOCAL_MODEL_COST_MAP=True exec "${venv}/bin/litellm" --config "${work}/litellm.yaml" \
   --host 127.0.0.1 --port "${litellm_port}") > "${work}/litellm.log" 2>&1 &
litellm_pid=$!; pids+=("${litellm_pid}")
if wait_http "http://127.0.0.1:${litellm_port}/health/liveliness" "${litellm_pid}"; then
  run_load litellm true "http://127.0.0.1:${litellm_port}/v1/chat/completions" "${litellm_pid}"
else
  record_failure litellm "did not start (see litellm.log)"
fi
stop "${litellm_pid}"

# --- Outrigger: defaults, then with busy polling --------------------------------------------
echo "sk-bench-unused" > "${work}/upstream.key"
if [[ "${outrigger_mode}" == openai ]]; then
  provider_block="[instances.upstream]
type = \"provider.openai\"
[instances.upstream.config]
base_url = \"http://127.0.0.1:${upstream_port}/v1\"
api_key = \"file:${work}/upstream.key\""
else
  provider_block="[instances.upstream]
type = \"provider.mock\"
[instances.upstream.config]
mode = \"fixed\"
text = \"hello from the mock upstream\""
fi
run_outrigger() {  # name busy_poll_us
  echo "$1" >&2
  cat > "${work}/outrigger.toml" <<TOML
[server]
socket = "${work}/outrigger.sock"
busy_poll_us = $2
[http]
listen = "127.0.0.1:${outrigger_port}"
[plugins]
dirs = ["${snap}/plugins"]
${provider_block}
[routes.bench-model]
provider = "upstream"
TOML
  (exec "${snap}/outrigger" serve --config "${work}/outrigger.toml") > "${work}/outrigger.log" 2>&1 &
  local pid=$!; pids+=("${pid}")
  if wait_http "http://127.0.0.1:${outrigger_port}/v1/models" "${pid}"; then
    run_load "$1" "${comparable}" "http://127.0.0.1:${outrigger_port}/v1/chat/completions" "${pid}"
  else
    record_failure "$1" "did not start (see outrigger.log)"
  fi
  stop "${pid}"
}
run_outrigger "outrigger${label}" 0
if [[ "${busy_poll_us}" != 0 ]]; then run_outrigger "outrigger(busy_poll_us=${busy_poll_us})${label}" "${busy_poll_us}"; fi

# --- the direct baseline again: how much the machine drifted during the run ------------------
echo "direct(again)" >&2
run_load "direct(again)" true "http://127.0.0.1:${upstream_port}/v1/chat/completions" ""

node "${here}/report.mjs" "${results}"
