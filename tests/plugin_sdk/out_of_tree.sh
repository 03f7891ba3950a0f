#!/usr/bin/env bash
# Installs the build into a temporary prefix, builds sdk/plugin/examples/guardrail_hello and
# guardrail_redact against it, and runs the installed daemon with the new plugins in routes.
set -euo pipefail
build="$1"
src="$2"
work="$(mktemp -d "${TMPDIR:-/tmp}/outrigger-oot-XXXXXX")"
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/outrigger/plugin.h"
test -f "$work/prefix/lib/cmake/Outrigger/OutriggerConfig.cmake"

cmake -S "$src/sdk/plugin/examples/guardrail_hello" -B "$work/plugin" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/plugin" >/dev/null
plugin_dir="$work/plugin/plugins"
test -f "$plugin_dir/guardrail_hello.so"

"$work/prefix/bin/outrigger" plugins --dir "$plugin_dir" | grep -q "guardrail.hello"

cat > "$work/outrigger.toml" <<TOML
[server]
socket = "$work/o.sock"
workers = 1
[plugins]
dirs = ["$work/prefix/lib/outrigger/plugins", "$plugin_dir"]
[instances.mock]
type = "provider.mock"
[instances.polite]
type = "guardrail.hello"
[instances.polite.config]
greeting = "hi"
[routes.default]
guardrails = ["polite"]
provider = "mock"
TOML
"$work/prefix/bin/outrigger" check --config "$work/outrigger.toml" | grep -q "guardrail  polite"

"$work/prefix/bin/outrigger" serve --config "$work/outrigger.toml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 200); do [ -S "$work/o.sock" ] && break; sleep 0.05; done

answer="$("$work/prefix/bin/outrigger" chat --socket "$work/o.sock" "hi there" 2>/dev/null)"
[ "$answer" = "hi there" ] || { echo "expected the echo, got: $answer"; exit 1; }
if "$work/prefix/bin/outrigger" chat --socket "$work/o.sock" "rude request" 2>"$work/err.txt"; then
  echo "the plugin should have denied the request"; exit 1
fi
grep -q "PERMISSION_DENIED \[guardrail/polite\]: say 'hi' first" "$work/err.txt"
echo "out-of-tree plugin: built, loaded, allowed one request and denied one"

# guardrail_redact (ABI 1.2): rewrites the request, holds streamed chunks back and restores them.
cmake -S "$src/sdk/plugin/examples/guardrail_redact" -B "$work/redact" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/redact" >/dev/null
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=""
rm -f "$work/o.sock"
cat > "$work/redact.toml" <<TOML
[server]
socket = "$work/o.sock"
workers = 1
[plugins]
dirs = ["$work/prefix/lib/outrigger/plugins", "$work/redact/plugins"]
[instances.mock]
type = "provider.mock"
[instances.mock.config]
stream_chunks = 9
[instances.roundtrip]
type = "guardrail.redact"
[instances.roundtrip.config]
word = "hunter2"
restore = true
[instances.oneway]
type = "guardrail.redact"
[instances.oneway.config]
word = "hunter2"
[routes.default]
guardrails = ["roundtrip"]
provider = "mock"
[routes.oneway]
guardrails = ["oneway"]
provider = "mock"
TOML
"$work/prefix/bin/outrigger" serve --config "$work/redact.toml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 200); do [ -S "$work/o.sock" ] && break; sleep 0.05; done
chat() { "$work/prefix/bin/outrigger" chat --socket "$work/o.sock" "$@"; }
# The mock echoes what it was sent: the upstream saw the placeholder, never the word.
seen="$(chat -m oneway "my password is hunter2, keep it")"
[ "$seen" = "my password is [REDACTED], keep it" ] || { echo "the upstream saw: $seen"; exit 1; }
# Restored on the way back, in a stream cut into 9 chunks (placeholders split across them) ...
streamed="$(chat "my password is hunter2, keep it")"
[ "$streamed" = "my password is hunter2, keep it" ] || { echo "streamed back: $streamed"; exit 1; }
# ... and in a whole answer.
whole="$(chat --no-stream "hunter2 and hunter2")"
[ "$whole" = "hunter2 and hunter2" ] || { echo "answered: $whole"; exit 1; }
echo "out-of-tree ABI 1.2 plugin: rewrote the request, held the stream back and restored it"

# The export check itself fails on a library that exports more than the entry symbol.
if cmake -DPLUGIN="$build/tests/fixtures/plugins/no_entry.so" -DNM=nm \
     -P "$work/prefix/lib/cmake/Outrigger/OutriggerCheckExports.cmake" 2>/dev/null; then
  echo "the export check accepted a library exporting not_an_entry"; exit 1
fi
cmake -DPLUGIN="$plugin_dir/guardrail_hello.so" -DNM=nm -P "$work/prefix/lib/cmake/Outrigger/OutriggerCheckExports.cmake"
echo "export check: refuses extra exports, accepts the plugin"
