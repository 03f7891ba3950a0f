#!/usr/bin/env bash
# Side-by-side benchmark: `outrigger eval run` and promptfoo on one generated dataset with
# equivalent deterministic assertions, against the same local upstream (bench_upstream in echo
# mode: the answer is the prompt, so every verdict is known in advance). Checks that both tools
# give every case the expected verdict, and prints each tool's cases per second at the same
# concurrency and the verdict on the goal (Outrigger >= 10x promptfoo).
# A benchmark, not a test: run it by hand, in the foreground, on an otherwise idle machine.
#
#   tests/bench/peers/promptfoo/run.sh
#
# Environment:
#   OUTRIGGER_BUILD_DIR   build tree (default build/); installs and logs go to its eval-peers/ folder
#   OUTRIGGER_BIN         default $OUTRIGGER_BUILD_DIR/release/bin/outrigger (bench_upstream beside it)
#   OUTRIGGER_PLUGIN_DIR  default <bin>/../../lib/outrigger/plugins (needs provider.openai)
#   BENCH_DIR             installs, dataset, configs, outputs, logs (default $OUTRIGGER_BUILD_DIR/eval-peers)
#   BENCH_CASES           cases in the dataset (default 500)
#   BENCH_RUNS            measured runs per tool and concurrency (default 3; the median is shown)
#   BENCH_CONCURRENCY     concurrencies, space-separated (default "8 32")
#   PROMPTFOO_VERSION     pinned promptfoo (default below: the newest release that runs on Node 20)
# Exit status: 0 when every run of every tool gave every case its expected verdict, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../../.." && pwd)"
build="${OUTRIGGER_BUILD_DIR:-build}"
[[ "${build}" = /* ]] || build="${root}/${build}"
bin="${OUTRIGGER_BIN:-${build}/release/bin/outrigger}"
[[ "${bin}" = /* ]] || bin="${root}/${bin}"
plugins="${OUTRIGGER_PLUGIN_DIR:-$(dirname "$(dirname "${bin}")")/lib/outrigger/plugins}"
work="${BENCH_DIR:-${build}/eval-peers}"
cases="${BENCH_CASES:-500}"
runs="${BENCH_RUNS:-3}"
concurrencies="${BENCH_CONCURRENCY:-8 32}"
# 0.121.20 is the last promptfoo whose engines accept Node 20 (0.122.0 and later want >= 22.22).
promptfoo_version="${PROMPTFOO_VERSION:-0.121.20}"
upstream_port=18280 outrigger_port=18290
mkdir -p "${work}/out"
results="${work}/results.jsonl"
: > "${results}"
source "${here}/../processes.sh"
for p in "${upstream_port}" "${outrigger_port}"; do
  port_free "${p}" || { echo "port ${p} is in use; stop whatever listens there first" >&2; exit 1; }
done

# --- promptfoo: pinned, installed once under the bench dir ------------------------------------
pf_dir="${work}/promptfoo"
pf_bin="${pf_dir}/node_modules/.bin/promptfoo"
installed="$(node -p "require('${pf_dir}/node_modules/promptfoo/package.json').version" 2>/dev/null || true)"
if [[ "${installed}" != "${promptfoo_version}" ]]; then
  echo "installing promptfoo@${promptfoo_version}" >&2
  mkdir -p "${pf_dir}"
  [[ -f "${pf_dir}/package.json" ]] || echo '{"name":"bench-peers-promptfoo","private":true}' > "${pf_dir}/package.json"
  (cd "${pf_dir}" && npm install --save-exact --no-audit --no-fund --loglevel=error "promptfoo@${promptfoo_version}")
fi
# No telemetry, update check or sharing; its home (database, logs) inside the bench dir; and no
# cache, so that every case of every run is a real request to the upstream (--no-cache as well).
# Its per-run debug log file is off: about 1 MB a run, and at 32 concurrent its file logger threw
# "write after end" at exit (after the results were written), turning the exit status into 1.
export PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 PROMPTFOO_DISABLE_SHARING=1 \
  PROMPTFOO_DISABLE_REMOTE_GENERATION=1 PROMPTFOO_CACHE_ENABLED=false PROMPTFOO_DISABLE_DEBUG_LOG=1 \
  PROMPTFOO_CONFIG_DIR="${work}/promptfoo-home" PROMPTFOO_LOG_DIR="${work}/promptfoo-home/logs"

# --- Outrigger: snapshot the binaries and plugins (a rebuild during the run must not change them)
snap="${work}/outrigger-snapshot"
[[ -x "${bin}" ]] || { echo "no Outrigger binary at ${bin}" >&2; exit 1; }
[[ -x "$(dirname "${bin}")/bench_upstream" ]] || { echo "no bench_upstream beside ${bin}; build the release preset" >&2; exit 1; }
rm -rf "${snap}" && mkdir -p "${snap}/plugins"
cp "${bin}" "${snap}/outrigger" && cp "$(dirname "${bin}")/bench_upstream" "${snap}/" && cp "${plugins}"/*.so "${snap}/plugins/"
plugin_list="$("${snap}/outrigger" plugins --dir "${snap}/plugins" 2>/dev/null || true)"  # whole, not piped: grep -q would cut it
if ! grep -qx 'provider\.openai' <<< "${plugin_list}"; then
  echo "no provider.openai in ${plugins}: Outrigger could not reach the upstream; build provider_openai" >&2; exit 1
fi

echo "# ${cases} cases, ${runs} measured runs per row (median shown) after one unmeasured warm-up run, $(nproc) cores, node $(node --version)"
echo "# promptfoo ${promptfoo_version} (--no-cache, --no-write, cache disabled), $("${snap}/outrigger" version 2>/dev/null | head -1) from $(rel "${bin}")"
[[ "${bin}" == */release/* ]] || echo "# note: Outrigger is not a release build here; its figures are pessimistic"

# --- the shared upstream, the sidecar in front of it, the dataset ------------------------------
(exec "${snap}/bench_upstream" "${upstream_port}" echo) & pids+=("$!")
wait_http "http://127.0.0.1:${upstream_port}/v1/models" "${pids[-1]}"
echo "sk-bench-unused" > "${work}/upstream.key"
cat > "${work}/sidecar.toml" <<TOML
[server]
socket = "${work}/outrigger.sock"
[http]
listen = "127.0.0.1:${outrigger_port}"
[plugins]
dirs = ["${snap}/plugins"]
[instances.upstream]
type = "provider.openai"
[instances.upstream.config]
base_url = "http://127.0.0.1:${upstream_port}/v1"
api_key = "file:${work}/upstream.key"
[routes.bench-model]
provider = "upstream"
TOML
(exec "${snap}/outrigger" serve --config "${work}/sidecar.toml") > "${work}/sidecar.log" 2>&1 & pids+=("$!")
wait_http "http://127.0.0.1:${outrigger_port}/v1/models" "${pids[-1]}"
data="${work}/data"
node "${here}/gen.mjs" "${data}" "${cases}" "http://127.0.0.1:${upstream_port}/v1" "http://127.0.0.1:${outrigger_port}/v1" >&2

# --- one run of one row: wall time of the whole command, its output kept for the verdicts ------
run_row() {  # row concurrency run(0 = warm-up)
  local out="${work}/out/$1-c$2-r$3.json" log="${work}/out/$1-c$2-r$3.log" tool=outrigger
  local -a cmd
  case "$1" in
    promptfoo) tool=promptfoo cmd=("${pf_bin}" eval -c "${data}/promptfooconfig.yaml") ;;
    promptfoo-via-sidecar) tool=promptfoo cmd=("${pf_bin}" eval -c "${data}/promptfooconfig-2.yaml") ;;
    outrigger) cmd=("${snap}/outrigger" eval run "${data}/eval.toml" --socket "${work}/outrigger.sock") ;;
    outrigger-in-process) cmd=("${snap}/outrigger" eval run "${data}/eval.toml" --config "${work}/sidecar.toml") ;;
  esac
  if [[ "${tool}" == promptfoo ]]; then
    cmd+=(--no-cache --no-write --no-table --no-progress-bar --no-share --max-concurrency "$2" -o "${out}")
  else
    cmd+=(-j "$2" --json "${out}")
  fi
  rm -f "${out}"
  local start end rc=0
  start="$(date +%s%N)"
  "${cmd[@]}" < /dev/null > "${log}" 2>&1 || rc=$?
  end="$(date +%s%N)"
  # promptfoo exits 100 and Outrigger 100 or 0 when some cases fail, as they are meant to here.
  if [[ "${rc}" != 0 && "${rc}" != 100 ]]; then echo "$1 at $2 exited ${rc}; see $(rel "${log}")" >&2; fi
  [[ "$3" == 0 ]] && return 0
  printf '{"row":"%s","tool":"%s","concurrency":%d,"run":%d,"wall_s":%s,"rc":%d,"file":"%s"}\n' "$1" "${tool}" "$2" "$3" \
    "$(awk -v s="${start}" -v e="${end}" 'BEGIN { printf "%.3f", (e - s) / 1e9 }')" "${rc}" "${out}" >> "${results}"
  echo "  $1 at $2, run $3: $(tail -c 200 "${results}" | grep -o '"wall_s":[0-9.]*')" >&2
}

rows=(promptfoo promptfoo-via-sidecar outrigger outrigger-in-process)
first="${concurrencies%% *}"
echo "warm-up (unmeasured)" >&2
for row in "${rows[@]}"; do run_row "${row}" "${first}" 0; done
echo "measured" >&2
for c in ${concurrencies}; do
  for r in $(seq 1 "${runs}"); do  # rows alternate within each round, so drift touches all alike
    for row in "${rows[@]}"; do run_row "${row}" "${c}" "${r}"; done
  done
done

node "${here}/report.mjs" "${results}" "${data}/expected.json"
