# Sourced by the side-by-side benchmarks (run.sh, promptfoo/run.sh): the servers they start,
# stopped on exit, and waiting for them. Needs `root` (the repository) set first.
rel() { echo "${1#"${root}"/}"; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "${p}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "${p}" 2>/dev/null || true; done
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_http() {  # url pid
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited before $1 answered" >&2; return 1; }
    sleep 0.1
  done
  echo "not reachable: $1" >&2; return 1
}
