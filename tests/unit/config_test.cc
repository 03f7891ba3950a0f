#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>

#include "config/config.h"
#include "config/restart_changes.h"

using namespace outrigger;

namespace {

std::string errorOf(const std::string& toml) {
  auto s = config::parseConfig(toml, "test.toml", "/etc/outrigger");
  REQUIRE_FALSE(s.ok());
  return s.status().message();
}

const char* kMinimal = R"(
[instances.mock]
type = "provider.mock"
[routes.default]
provider = "mock"
)";

}  // namespace

TEST_CASE("the embedded default config parses and routes to the mock") {
  auto s = config::loadDefaultConfig();
  REQUIRE(s.ok());
  CHECK(s->default_route == "default");
  REQUIRE(s->routes.size() == 1);
  CHECK(s->routes[0].provider == "mock");
  CHECK(s->server.socket_mode == 0660);
}

TEST_CASE("a minimal config gets defaults and its single route is the default") {
  auto s = config::parseConfig(kMinimal, "test.toml", "/etc/outrigger");
  REQUIRE(s.ok());
  CHECK(s->default_route == "default");
  CHECK(s->instances[0].kind == "provider");
  CHECK(s->instances[0].type == "mock");
  CHECK(s->instances[0].config_json == "{}");
  CHECK(s->server.max_frame_size == 4u << 20);
  CHECK(s->exporter_priority == "idle");
}

TEST_CASE("the exporter thread's priority is idle, low or normal") {
  for (const char* p : {"idle", "low", "normal"}) {
    auto s = config::parseConfig(std::string(kMinimal) + "[exporter]\npriority = \"" + p + "\"\n", "test.toml", "/etc");
    REQUIRE(s.ok());
    CHECK(s->exporter_priority == p);
  }
  CHECK(errorOf("[exporter]\npriority = \"realtime\"\n").find("'priority' must be \"idle\", \"low\" or \"normal\"") !=
        std::string::npos);
}

TEST_CASE("the exporter queue's byte bound is 128 MiB unless set, and at least 1 MiB") {
  auto d = config::parseConfig(kMinimal, "test.toml", "/etc");
  REQUIRE(d.ok());
  CHECK(d->exporter_queue_max_bytes == 128ull << 20);
  auto s = config::parseConfig(std::string(kMinimal) + "[exporter]\nqueue_max_bytes = 8388608\n", "test.toml", "/etc");
  REQUIRE(s.ok());
  CHECK(s->exporter_queue_max_bytes == 8u << 20);
  CHECK(errorOf("[exporter]\nqueue_max_bytes = 1000\n").find("'queue_max_bytes' must be between 1048576 and") !=
        std::string::npos);
  // 0 turned off the check that cancels the chain request of an HTTP/1 client that went away.
  CHECK(errorOf("[http]\nabort_check_ms = 0\n").find("'abort_check_ms' must be between 1 and 60000") != std::string::npos);
  // Accepted and ignored: a provider whose start failed ended the request all the same.
  CHECK(errorOf("[instances.p]\ntype = \"provider.mock\"\non_error = \"skip\"\n").find("cannot be \"skip\" for a provider") !=
        std::string::npos);
}

// The capacity counts the notification in flight: 1 would drop everything made meanwhile.
TEST_CASE("[alerts] queue_capacity holds the one in flight and one waiting at least") {
  CHECK(errorOf("[alerts]\nwebhook = \"http://127.0.0.1:9/hook\"\nqueue_capacity = 1\n")
            .find("'queue_capacity' must be between 2 and 100000") != std::string::npos);
  auto two = config::parseConfig("[alerts]\nwebhook = \"http://127.0.0.1:9/hook\"\nqueue_capacity = 2\n", "test.toml", "/etc/outrigger");
  CHECK((two.ok() || two.status().message().find("queue_capacity") == std::string::npos));
}

TEST_CASE("the heartbeat announced to clients is 5 s unless set, 0 for none, else at least 100 ms") {
  auto d = config::parseConfig(kMinimal, "test.toml", "/etc");
  REQUIRE(d.ok());
  CHECK(d->server.heartbeat_ms == 5000);
  for (uint32_t ms : {0u, 100u, 30000u}) {
    auto s = config::parseConfig("[server]\nheartbeat_ms = " + std::to_string(ms) + "\n" + kMinimal, "test.toml", "/etc");
    REQUIRE(s.ok());
    CHECK(s->server.heartbeat_ms == ms);
  }
  CHECK(errorOf("[server]\nheartbeat_ms = 50\n").find("'heartbeat_ms' must be 0 (none) or at least 100") != std::string::npos);
}

TEST_CASE("unknown keys are errors that name the file and line") {
  std::string e = errorOf("[server]\nworkers = 2\nwokers = 3\n");
  CHECK(e.find("test.toml:3") != std::string::npos);
  CHECK(e.find("unknown key 'wokers'") != std::string::npos);
  e = errorOf(std::string(kMinimal) + "[routes.other]\nprovider = \"mock\"\nfallback = \"x\"\n");
  CHECK(e.find("test.toml:8") != std::string::npos);
  CHECK(e.find("'fallback'") != std::string::npos);
}

TEST_CASE("wrong types and bad values are errors with file:line") {
  CHECK(errorOf("[server]\nworkers = \"two\"\n").find("test.toml:2: 'workers' must be an integer") != std::string::npos);
  CHECK(errorOf("[server]\nsocket_mode = \"rw\"\n").find("test.toml:2") != std::string::npos);
  CHECK(errorOf("[server]\nmax_frame_size = 100000000\n").find("between") != std::string::npos);
  CHECK(errorOf("[server\nx=1").find("test.toml:1") != std::string::npos);  // TOML syntax
}

TEST_CASE("routes must reference existing instances of the right kind") {
  std::string e = errorOf("[instances.mock]\ntype = \"provider.mock\"\n[routes.r]\nprovider = \"nope\"\n");
  CHECK(e.find("test.toml:3") != std::string::npos);
  CHECK(e.find("unknown instance 'nope'") != std::string::npos);
  e = errorOf(std::string(kMinimal) + "[routes.r]\nprovider = \"mock\"\ncache = \"mock\"\n");
  CHECK(e.find("as a cache, but it is a provider") != std::string::npos);
  CHECK(errorOf("[instances.x]\ntype = \"teapot.mock\"\n").find("unknown plugin kind 'teapot'") != std::string::npos);
  // A type names a library file in a plugin folder: a path in it could load one from elsewhere.
  CHECK(errorOf("[instances.x]\ntype = \"guardrail.sub/evil\"\n").find("a plugin type is letters") != std::string::npos);
  CHECK(errorOf("[instances.x]\ntype = \"guardrail.\"\n").find("a plugin type is letters") != std::string::npos);
  CHECK(errorOf("default_route = \"zzz\"\n" + std::string(kMinimal)).find("test.toml:1: default_route 'zzz' is not a route") != std::string::npos);
}

TEST_CASE("${ENV} is substituted in every string, a missing variable is an error") {
  ::setenv("OUTRIGGER_TEST_SOCK", "/run/o.sock", 1);
  ::setenv("OUTRIGGER_TEST_TEXT", "from env", 1);
  auto s = config::parseConfig(
      "[server]\nsocket = \"${OUTRIGGER_TEST_SOCK}\"\n[instances.mock]\ntype = \"provider.mock\"\n"
      "[instances.mock.config]\ntext = \"say ${OUTRIGGER_TEST_TEXT}!\"\n[routes.default]\nprovider = \"mock\"\n",
      "test.toml", ".");
  REQUIRE(s.ok());
  CHECK(s->server.socket_path == "/run/o.sock");
  CHECK(s->instances[0].config_json == R"({"text":"say from env!"})");
  ::setenv("OUTRIGGER_TEST_PRIORITY", "low", 1);
  ::setenv("OUTRIGGER_TEST_ALIAS", "house-model", 1);
  auto more = config::parseConfig(std::string(kMinimal) +
                                      "[exporter]\npriority = \"${OUTRIGGER_TEST_PRIORITY}\"\n"
                                      "[prices.\"openai/gpt-house\"]\ninput = 1e-6\noutput = 2e-6\n"
                                      "aliases = [\"${OUTRIGGER_TEST_ALIAS}\"]\n",
                                  "test.toml", ".");
  REQUIRE(more.ok());
  CHECK(more->exporter_priority == "low");
  REQUIRE(more->prices.entries.size() == 1);
  CHECK(more->prices.entries[0].aliases == std::vector<std::string>{"house-model"});
  ::unsetenv("OUTRIGGER_TEST_MISSING");
  CHECK(errorOf("[server]\nsocket = \"${OUTRIGGER_TEST_MISSING}\"\n").find("OUTRIGGER_TEST_MISSING is not set") != std::string::npos);
}

TEST_CASE("$${ is a literal ${, and a lone $ stays as it is") {
  auto s = config::parseConfig(
      "[instances.mock]\ntype = \"provider.mock\"\n"
      "[instances.mock.config]\ntext = \"block $${jndi:ldap} for $5 or $$\"\n[routes.default]\nprovider = \"mock\"\n",
      "test.toml", ".");
  REQUIRE(s.ok());
  CHECK(s->instances[0].config_json == R"({"text":"block ${jndi:ldap} for $5 or $$"})");
}

TEST_CASE("relative plugin dirs resolve against the config file's folder") {
  auto s = config::parseConfig(std::string("[plugins]\ndirs = [\"plugins\", \"/abs\"]\n") + kMinimal, "t.toml", "/etc/outrigger");
  REQUIRE(s.ok());
  CHECK(s->plugin_dirs == std::vector<std::string>{"/etc/outrigger/plugins", "/abs"});
}

TEST_CASE("plugin config keeps a line for each JSON pointer") {
  auto s = config::parseConfig(
      "[instances.g]\ntype = \"guardrail.rules\"\n[instances.g.config]\nmax_messages = 3\ndeny_patterns = ['a', 'b']\n"
      "[instances.mock]\ntype = \"provider.mock\"\n[routes.default]\nprovider = \"mock\"\nguardrails = [\"g\"]\n",
      "t.toml", ".");
  REQUIRE(s.ok());
  const auto& lines = s->instances[0].lines;
  CHECK(lines.at("/max_messages") == "t.toml:4");
  CHECK(lines.at("/deny_patterns/1") == "t.toml:5");
  CHECK(s->instances[0].on_error == config::OnError::kDeny);
}

TEST_CASE("the upstream transport and busy polling are server settings with bounds") {
  auto s = config::parseConfig(
      std::string("[server]\nbusy_poll_us = 50\nupstream_plain_http1 = false\nupstream_max_connections = 8\n") + kMinimal,
      "test.toml", "/etc/outrigger");
  REQUIRE(s.ok());
  CHECK(s->server.busy_poll_us == 50);
  CHECK_FALSE(s->server.upstream_plain_http1);
  CHECK(s->server.upstream_max_connections == 8);
  auto d = config::parseConfig(kMinimal, "test.toml", "/etc/outrigger");
  REQUIRE(d.ok());
  CHECK(d->server.busy_poll_us == 0);  // never spins unless asked
  CHECK(d->server.upstream_plain_http1);
  CHECK(d->server.upstream_max_connections == 256);
  CHECK(errorOf("[server]\nupstream_max_connections = 70000\n").find("test.toml:2") != std::string::npos);
  CHECK(errorOf("[server]\nbusy_poll_us = 20000\n").find("test.toml:2") != std::string::npos);
  CHECK(errorOf("[server]\nupstream_plain_http1 = \"yes\"\n").find("test.toml:2") != std::string::npos);
}

TEST_CASE("a virtual key listed twice is refused at load, naming the line") {
  std::string err = errorOf(std::string(kMinimal) + R"(
[http]
[[http.virtual_keys]]
key = "k1"
tenant = "a"
[[http.virtual_keys]]
key = "k1"
tenant = "b"
)");
  CHECK(err.find("test.toml:11") != std::string::npos);  // the second entry
  CHECK(err.find("already listed") != std::string::npos);
}

TEST_CASE("peer rules need one of uid and gid, tenants, and a default among them") {
  CHECK(errorOf(std::string("[server]\n[[server.peers]]\ntenants = [\"a\"]\n") + kMinimal).find("exactly one of 'uid' and 'gid'") !=
        std::string::npos);
  CHECK(errorOf(std::string("[server]\n[[server.peers]]\nuid = 1\n") + kMinimal).find("needs 'tenants'") != std::string::npos);
  CHECK(errorOf(std::string("[server]\n[[server.peers]]\nuid = 1\ntenants = [\"a\"]\ndefault_tenant = \"b\"\n") + kMinimal)
            .find("'default_tenant' must be one of 'tenants'") != std::string::npos);
  auto s = config::parseConfig(std::string("[server]\n[[server.peers]]\ngid = 50\ntenants = [\"a\", \"b\"]\n") + kMinimal,
                               "test.toml", "/etc/outrigger");
  REQUIRE(s.ok());
  REQUIRE(s->server.peers.size() == 1);
  CHECK(s->server.peers[0].gid == 50);
  CHECK(s->server.peers[0].uid == -1);
  CHECK(s->server.peers[0].default_tenant == "a");
  CHECK(s->server.socket_path.empty());  // unset: the private runtime directory
}

TEST_CASE("a dotted key of 100,000 parts is refused before the TOML parser recurses on it") {
  std::string parts;
  for (int i = 0; i < 100000; ++i) parts += ".a";
  CHECK(errorOf(std::string(kMinimal) + "[instances.mock.config" + parts + "]\nx = 1\n") ==
        "test.toml:6: a dotted key of more than 64 parts");
  CHECK(errorOf(std::string(kMinimal) + "[instances.mock.config]\na" + parts + " = 1\n") ==
        "test.toml:7: a dotted key of more than 64 parts");
  auto ok = config::parseConfig(std::string(kMinimal) + "[instances.mock.config]\nnote = \"" + parts + "\"\n", "test.toml",
                                "/etc/outrigger");
  CHECK(ok.ok());  // dots inside a string value are not key parts
  std::string dots(70, '.');
  for (const char* quote : {"\"\"\"", "'''"}) {
    std::string text = std::string(kMinimal) + "fallback_answer = " + quote + "\nStatus " + dots + " degraded\n" +
                       "Next " + dots + " = soon\n" + quote + "\n";
    auto multi = config::parseConfig(text, "test.toml", "/etc/outrigger");
    INFO(text);
    CHECK(multi.ok());  // nor inside a multi-line one
  }
  // An array element on a line of its own, and a quoted '=' before a real multi-line string.
  std::string element = std::string(kMinimal) + "[instances.mock.config]\nnotes = [\n  \"\"\"\nStatus " + dots +
                        "\n\"\"\",\n]\n";
  CHECK(config::parseConfig(element, "test.toml", "/etc/outrigger").ok());
  CHECK(errorOf(std::string(kMinimal) + "[instances.mock.config]\nnotes = [\"a = '''\"]\na" + parts + " = 1\n") ==
        "test.toml:8: a dotted key of more than 64 parts");
  // An escaped quote run closes nothing: the string goes on, and the key after it is counted.
  CHECK(errorOf(std::string(kMinimal) + "[instances.mock.config]\nnote = \"\"\"\nx \\\"\"\" y\n\"\"\"\na" + parts +
                " = 1\n") == "test.toml:10: a dotted key of more than 64 parts");
  CHECK(errorOf(std::string(kMinimal) + "note = \"\"\"one line\"\"\"\na" + parts + " = 1\n") ==
        "test.toml:7: a dotted key of more than 64 parts");  // a string closed on its line hides nothing
}

// The keys of an inline table are dotted keys too, and a line with no '=' may be an array's
// continuation: only runs of key parts joined by dots count, wherever they are on the line.
TEST_CASE("a dotted key inside an inline table is counted, a line of floats is not a key") {
  std::string parts;
  for (int i = 0; i < 20000; ++i) parts += ".a";
  CHECK(errorOf(std::string(kMinimal) + "[instances.mock.config]\nx = { y = 1, a" + parts + " = 1 }\n") ==
        "test.toml:7: a dotted key of more than 64 parts");
  CHECK(errorOf(std::string(kMinimal) + "[instances.mock.config]\nx = { s = \"\"\"q\"\"\", a" + parts + " = 1 }\n") ==
        "test.toml:7: a dotted key of more than 64 parts");  // after a multi-line string closed on the line
  // A multi-line string may end with one or two quotes more than its delimiter ("""a"""" is a").
  CHECK(errorOf(std::string(kMinimal) + "[instances.mock.config]\nx = { s = \"\"\"a\"\"\"\", a" + parts + " = 1 }\n") ==
        "test.toml:7: a dotted key of more than 64 parts");
  std::string dotted_text = "1";
  for (int i = 0; i < 70; ++i) dotted_text += ".1";
  for (std::string q : {std::string(3, '"'), std::string(3, '\'')}) {
    std::string quad = q + "q" + q + q[0];  // four quotes close it: the text is q and one quote
    auto text_only = config::parseConfig(std::string(kMinimal) + "[instances.mock.config]\nx = [" + quad + ", \"" +
                                             dotted_text + "\"]\n",
                                         "test.toml", "/etc/outrigger");
    INFO(quad << ": " << (text_only.ok() ? std::string() : text_only.status().message()));
    CHECK(text_only.ok());  // the dots are in a string
  }
  std::string floats;
  for (int i = 0; i < 80; ++i) floats += (i ? ", " : "") + std::to_string(i) + ".5";
  auto scores = config::parseConfig(std::string(kMinimal) + "[instances.mock.config]\nscores = [\n  " + floats + "\n]\n",
                                    "test.toml", "/etc/outrigger");
  INFO((scores.ok() ? std::string() : scores.status().message()));
  CHECK(scores.ok());
  CHECK(config::parseConfig(std::string(kMinimal) + "[instances.mock.config]\na . b . \"c.d\" = 1\n", "test.toml",
                            "/etc/outrigger").ok());
}

// Each dotted key under the bound, in inline tables nested as deep as toml++ allows: together
// deeper than the stack took when the plugin config was turned into JSON.
TEST_CASE("plugin config nested past 128 levels is refused, not a stack overflow") {
  std::string key = "a";
  for (int i = 0; i < 60; ++i) key += ".a";
  std::string value = "1";
  for (int i = 0; i < 200; ++i) value = "{ " + key + " = " + value + " }";
  std::string error = errorOf(std::string(kMinimal) + "[instances.mock.config]\nx = " + value + "\n");
  INFO(error);
  CHECK(error.find("nested deeper than 128 levels") != std::string::npos);
}

TEST_CASE("fallback_answer is text, or a table served as JSON text") {
  auto text = config::parseConfig(std::string(kMinimal) + "fallback_answer = \"sorry\"\n", "t.toml", ".");
  REQUIRE(text.ok());
  CHECK(text->routes[0].fallback_answer == std::optional<std::string>("sorry"));
  auto table = config::parseConfig(std::string(kMinimal) + "fallback_answer = { a = 1, b = [true] }\n", "t.toml", ".");
  REQUIRE(table.ok());
  CHECK(table->routes[0].fallback_answer == std::optional<std::string>(R"({"a":1,"b":[true]})"));
  CHECK(errorOf(std::string(kMinimal) + "fallback_answer = 3\n").find("must be a string or a table") != std::string::npos);
  // JSON has no nan or inf: served, they made the answer `{"score":,...}`.
  for (const char* v : {"inf", "-inf", "nan"}) {
    std::string e = errorOf(std::string(kMinimal) + "fallback_answer = { score = " + v + ", text = \"x\" }\n");
    CHECK(e.find("test.toml:6") != std::string::npos);
    CHECK(e.find("nan and inf") != std::string::npos);
  }
}

TEST_CASE("server limits that would refuse every request are refused at load") {
  for (const char* key : {"max_concurrent_streams", "default_timeout_ms", "max_timeout_ms", "write_queue_high_water",
                          "write_queue_limit"}) {
    INFO(key);
    CHECK(errorOf(std::string("[server]\n") + key + " = 0\n" + kMinimal).find(std::string("'") + key +
                                                                            "' must be between 1 and") != std::string::npos);
  }
}

TEST_CASE("the admin token loses the newline a secret file ends with, and may not hold control characters") {
  auto s = config::parseConfig(std::string(kMinimal) + "[admin]\ntoken = \"s3cret\\n\"\n", "t.toml", ".");
  REQUIRE(s.ok());
  CHECK(s->admin.token == "s3cret");
  CHECK(errorOf(std::string(kMinimal) + "[admin]\ntoken = \"s3\\tcret\"\n").find("control characters") != std::string::npos);
  CHECK(errorOf(std::string(kMinimal) + "[admin]\ntoken = \" \\n\"\n").find("must not be empty") != std::string::npos);
}

TEST_CASE("max_reasks, max_held_bytes and max_answer_bytes have defaults and bounds") {
  auto defaults = config::parseConfig(std::string(kMinimal), "t.toml", ".");
  REQUIRE(defaults.ok());
  CHECK(defaults->routes[0].max_reasks == 1);
  CHECK(defaults->routes[0].max_held_bytes == 65536);
  auto set = config::parseConfig(std::string(kMinimal) + "max_reasks = 3\nmax_held_bytes = 1024\n", "t.toml", ".");
  REQUIRE(set.ok());
  CHECK(set->routes[0].max_reasks == 3);
  CHECK(set->routes[0].max_held_bytes == 1024);
  CHECK_FALSE(errorOf(std::string(kMinimal) + "max_reasks = 11\n").empty());
  CHECK(errorOf(std::string(kMinimal) + "max_held_bytes = 0\n").find("'max_held_bytes' must be between 1 and 16777216") != std::string::npos);
  for (const char* bad : {"max_answer_bytes = 1023\n", "max_answer_bytes = -1\n", "max_answer_bytes = 1073741825\n"}) {
    INFO(bad);
    CHECK(errorOf(std::string(kMinimal) + bad).find("'max_answer_bytes' must be between 1024 and 1073741824") != std::string::npos);
  }
}

TEST_CASE("route capture is none by default, else metadata or full, and nothing else") {
  auto none = config::parseConfig(kMinimal, "t.toml", ".");
  REQUIRE(none.ok());
  CHECK(none->routes[0].capture == config::Capture::kNone);
  auto full = config::parseConfig(std::string(kMinimal) + "capture = \"full\"\n", "t.toml", ".");
  REQUIRE(full.ok());
  CHECK(full->routes[0].capture == config::Capture::kFull);
  auto shape = config::parseConfig(std::string(kMinimal) + "capture = \"metadata\"\n", "t.toml", ".");
  REQUIRE(shape.ok());
  CHECK(shape->routes[0].capture == config::Capture::kMetadata);
  std::string e = errorOf(std::string(kMinimal) + "capture = \"all\"\n");
  CHECK(e.find("test.toml:6") != std::string::npos);
  CHECK(e.find("'capture' in [routes.default] must be \"none\", \"metadata\" or \"full\"") != std::string::npos);
}

namespace {

config::Settings parsed(const std::string& toml) {
  auto s = config::parseConfig(toml, "test.toml", "/etc/outrigger");
  REQUIRE(s.ok());
  return std::move(s.value());
}

const char* kRestartOnly = R"(
[server]
workers = 2
[[server.peers]]
uid = 1000
tenants = ["checkout"]
[http]
listen = ["127.0.0.1:8080"]
[admin]
listen = "127.0.0.1:9464"
[exporter]
queue_capacity = 4096
[alerts]
[[alerts.rules]]
name = "errors"
kind = "error_rate"
threshold = 0.05
[[alerts.rules]]
name = "slow"
kind = "latency"
threshold = 2.0
)";

}  // namespace

TEST_CASE("a reload names the sections only a restart changes, and lines that moved are no change") {
  config::Settings running = parsed(std::string(kRestartOnly) + kMinimal);
  // The same settings lower in the file: every `where` differs, nothing else.
  config::Settings moved = parsed("\n\n\n" + std::string(kRestartOnly) + kMinimal);
  REQUIRE(moved.server.peers[0].where != running.server.peers[0].where);
  CHECK(config::restartOnlyChanges(running, moved).empty());
  // Virtual keys and alert rules in another order: each is unique, so the order means nothing.
  config::Settings reordered = running;
  std::reverse(reordered.alerts.rules.begin(), reordered.alerts.rules.end());
  reordered.http.virtual_keys = {{"sk-b", "search", {}}, {"sk-a", "checkout", {}}};
  running.http.virtual_keys = {{"sk-a", "checkout", {}}, {"sk-b", "search", {}}};
  CHECK(config::restartOnlyChanges(running, reordered).empty());
  reordered.http.virtual_keys[0].tenant = "other";
  CHECK(config::restartOnlyChanges(running, reordered) == std::vector<std::string>{"[http]"});
  running.http.virtual_keys.clear();
  // Peer rules keep their order: the first match decides.
  config::Settings peers_swapped = running;
  peers_swapped.server.peers.push_back(config::PeerRule{1001, -1, {"search"}, "", ""});
  config::Settings peers_first = running;
  peers_first.server.peers.insert(peers_first.server.peers.begin(), peers_swapped.server.peers.back());
  CHECK(config::restartOnlyChanges(peers_swapped, peers_first) == std::vector<std::string>{"[server]"});

  std::string changed = kRestartOnly;
  auto replace = [&changed](const std::string& from, const std::string& to) {
    size_t at = changed.find(from);
    REQUIRE(at != std::string::npos);
    changed.replace(at, from.size(), to);
  };
  replace("queue_capacity = 4096", "queue_capacity = 8192");
  replace("threshold = 0.05", "threshold = 0.1");
  replace("tenants = [\"checkout\"]", "tenants = [\"checkout\", \"search\"]");
  CHECK(config::restartOnlyChanges(running, parsed(changed + kMinimal)) ==
        std::vector<std::string>{"[server]", "[exporter]", "[alerts]"});
  // Routes and instances reload: a new route is no restart-only change.
  CHECK(config::restartOnlyChanges(running, parsed(std::string(kRestartOnly) + kMinimal +
                                                   "[routes.other]\nprovider = \"mock\"\n"))
            .empty());
}

TEST_CASE("the command line's --socket and --workers are applied to a reloaded file before it is compared") {
  config::Settings file = parsed(std::string(kRestartOnly) + kMinimal);
  config::ServerOverrides flags{"/run/flag.sock", 1};
  config::Settings running = file;
  flags.applyTo(&running.server);
  CHECK(running.server.socket_path == "/run/flag.sock");
  CHECK(running.server.workers == 1);
  CHECK(config::restartOnlyChanges(running, file) == std::vector<std::string>{"[server]"});
  config::Settings reloaded = file;
  flags.applyTo(&reloaded.server);
  CHECK(config::restartOnlyChanges(running, reloaded).empty());
  config::ServerOverrides none;
  none.applyTo(&reloaded.server);  // no flags: the file's values stay
  CHECK(reloaded.server.workers == 1);
  config::ServerOverrides per_core{"", 0u};  // --workers 0: one per core, whatever the file says
  per_core.applyTo(&reloaded.server);
  CHECK(reloaded.server.workers == 0);
}

TEST_CASE("a route may be internal, reached by model calls only, but not the default route callers reach") {
  auto s = config::parseConfig(std::string(kMinimal) + "[routes.judge]\nprovider = \"mock\"\ninternal = true\n", "t.toml", ".");
  REQUIRE(s.ok());
  REQUIRE(s->routes.size() == 2);
  for (const auto& r : s->routes) CHECK(r.internal == (r.name == "judge"));
  CHECK(errorOf(std::string(kMinimal) + "internal = \"yes\"\n").find("'internal' must be true or false") != std::string::npos);
  CHECK(errorOf(std::string(kMinimal) + "internal = true\n").find("route 'default' is internal and cannot be the default route") !=
        std::string::npos);
  CHECK(errorOf(std::string("default_route = \"judge\"\n") + kMinimal + "[routes.judge]\nprovider = \"mock\"\ninternal = true\n")
            .find("route 'judge' is internal and cannot be the default route") != std::string::npos);
}

TEST_CASE("a route that names one exporter twice is refused: it would write every record twice") {
  const char* twice = R"(
[instances.mock]
type = "provider.mock"
[instances.traces]
type = "exporter.jsonl"
config = { path = "/tmp/x.jsonl" }
[routes.default]
provider = "mock"
exporters = ["traces", "traces"]
)";
  CHECK(errorOf(twice).find("names exporter 'traces' twice") != std::string::npos);
}
