// The local trace store through the real daemon: requests on the socket (unary, streamed,
// denied) and on the HTTP front, and a feedback, land in exporter.sqlite's file; `outrigger
// traces list | show | stats` and the admin server's /traces read them back and agree. The
// embedded default config keeps a store too, where `outrigger traces` finds it unprompted.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/run_command.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

const char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  INFO(text);
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

std::string traces(const DaemonProcess& d, const std::string& args) {
  return std::string(OUTRIGGER_BIN) + " traces " + args + " --db " + d.dir() + "/traces.db";
}

// Waits until the store holds `n` requests (commits run on a timer).
bool waitForRequests(const DaemonProcess& d, size_t n) {
  for (int i = 0; i < 200; ++i) {
    auto [status, out] = runCommand(traces(d, "list --json"));
    if (status == 0) {
      rapidjson::Document doc;
      doc.Parse(out.c_str());
      if (!doc.HasParseError() && doc.IsObject() && doc["requests"].Size() >= n) return true;
    }
    std::this_thread::sleep_for(25ms);
  }
  return false;
}

}  // namespace

TEST_CASE("trace store: socket and HTTP traffic is queryable with outrigger traces and /traces, which agree") {
  DaemonProcess d(basicConfig("mode = \"echo\"",
                              "exporters = [\"traces\"]\ncapture = \"full\"\n"
                              "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\n"
                              "path = \"@DIR@/traces.db\"\ncommit_interval_ms = 20\n"
                              "[admin]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto traced = ask("hello store");
  traced.metadata = client::Metadata{};
  traced.metadata->tenant = "acme";
  traced.metadata->prompt_id = "greeting";
  traced.metadata->prompt_version = "2";
  traced.metadata->traceparent = std::string("00-") + kTrace + "-00f067aa0ba902b7-01";
  auto answer = c.chat(traced);
  REQUIRE(answer.ok());
  CHECK(answer.value().trace_id == kTrace);
  auto streamed = ask("stream me please");
  streamed.metadata = client::Metadata{};
  streamed.metadata->tenant = "beta";
  auto s = c.stream(streamed);
  client::Chunk chunk;
  while (s.next(&chunk)) {
  }
  REQUIRE(s.result().ok());
  auto denied = ask("a forbidden phrase");
  denied.metadata = client::Metadata{};
  denied.metadata->tenant = "acme";
  REQUIRE_FALSE(c.chat(denied).ok());
  std::string json = R"({"model":"default","messages":[{"role":"user","content":"hi"}]})";
  auto [http_status, http_body] =
      roundTrip(httpPort(d), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "x-outrigger-user: u-7\r\nContent-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json);
  INFO(http_body);
  REQUIRE(http_status == 200);
  REQUIRE_FALSE(c.feedback(kTrace, 0.2, "too short").has_value());
  REQUIRE(waitForRequests(d, 4));

  SECTION("outrigger traces list filters like /traces") {
    auto [status, out] = runCommand(traces(d, "list --json"));
    REQUIRE(status == 0);
    auto all = parse(out);
    CHECK(all["requests"].Size() == 4);
    auto [s2, acme] = runCommand(traces(d, "list --json --tenant acme"));
    CHECK(parse(acme)["requests"].Size() == 2);
    auto [s3, deny] = runCommand(traces(d, "list --json --verdict deny"));
    auto denied_rows = parse(deny);
    REQUIRE(denied_rows["requests"].Size() == 1);
    CHECK(std::string(denied_rows["requests"][0]["status"].GetString()) == "PERMISSION_DENIED");
    auto [s4, user] = runCommand(traces(d, "list --json --user u-7"));
    auto http_rows = parse(user);
    REQUIRE(http_rows["requests"].Size() == 1);
    CHECK(std::string(http_rows["requests"][0]["route"].GetString()) == "default");
    auto [s5, errors] = runCommand(traces(d, "list --json --status error --since 10m"));
    CHECK(parse(errors)["requests"].Size() == 1);

    auto [a1, admin_acme] = adminGet(d, "/traces?tenant=acme");
    CHECK(a1 == 200);
    CHECK(parse(admin_acme)["requests"].Size() == 2);
    auto [a2, admin_deny] = adminGet(d, "/traces?verdict=deny&since=10m&limit=5");
    CHECK(a2 == 200);
    CHECK(parse(admin_deny)["requests"].Size() == 1);

    // The table a person reads: a header and one line per request.
    auto [s6, table] = runCommand(traces(d, "list"));
    CHECK(s6 == 0);
    CHECK(table.find("START (UTC)") != std::string::npos);
    CHECK(table.find(kTrace) != std::string::npos);
    CHECK(table.find("input_rules=deny") != std::string::npos);

    // Usage errors exit 2; --until 0 is a bound (before the epoch), not none.
    CHECK(runCommand(traces(d, "list --verdict bogus")).first == 2);
    CHECK(runCommand(traces(d, "list --since 2026-02-31T00:00:00Z")).first == 2);
    auto [s7, before_epoch] = runCommand(traces(d, "list --json --until 0"));
    CHECK(s7 == 0);
    CHECK(parse(before_epoch)["requests"].Size() == 0);
    // The admin server reads until=0 the same way (it read "no bound" and listed everything).
    auto [a8, admin_before_epoch] = adminGet(d, "/traces?until=0");
    CHECK(a8 == 200);
    CHECK(parse(admin_before_epoch)["requests"].Size() == 0);
    // A status is a code name, in any case, or "error"; anything else is a usage error, not an
    // empty answer.
    CHECK(runCommand(traces(d, "list --status bogus")).first == 2);
    auto [s9, errors_upper] = runCommand(traces(d, "list --json --status Error"));
    auto [s10, errors_lower] = runCommand(traces(d, "list --json --status error"));
    CHECK(s9 == 0);
    CHECK(parse(errors_upper)["requests"].Size() == parse(errors_lower)["requests"].Size());
    CHECK(parse(errors_lower)["requests"].Size() > 0);
  }

  SECTION("outrigger traces show prints the span tree, verdicts, the captured answer and the feedback") {
    auto [status, out] = runCommand(traces(d, std::string("show ") + kTrace));
    INFO(out);
    REQUIRE(status == 0);
    CHECK(out.find("request default  OK") != std::string::npos);
    CHECK(out.find("\n  guardrail.request input_rules") != std::string::npos);  // under the request
    CHECK(out.find("\n  provider mock  ok") != std::string::npos);
    CHECK(out.find("answer: hello store") != std::string::npos);
    CHECK(out.find("score 0.2 - too short") != std::string::npos);

    auto [a, body] = adminGet(d, std::string("/traces/") + kTrace);
    CHECK(a == 200);
    auto t = parse(body);
    REQUIRE(t["requests"].Size() == 1);
    const auto& r = t["requests"][0];
    CHECK(std::string(r["parent_span_id"].GetString()) == "00f067aa0ba902b7");
    CHECK(std::string(r["tenant"].GetString()) == "acme");
    CHECK(std::string(r["prompt_version"].GetString()) == "2");
    CHECK(std::string(r["answer"].GetString()) == "hello store");
    CHECK(std::string(r["prompt"][0]["content"].GetString()) == "hello store");
    bool attempt = false;
    for (const auto& sp : r["spans"].GetArray()) {
      CHECK(std::string(sp["parent_span_id"].GetString()) == r["span_id"].GetString());
      if (std::string(sp["stage"].GetString()) == "provider") {
        attempt = true;
        CHECK(std::string(sp["attributes"]["gen_ai.usage.input_tokens"].GetString()) == "2");
      }
    }
    CHECK(attempt);
    CHECK(t["feedback"][0]["score"].GetDouble() == Approx(0.2));

    auto [cli_status, cli_json] = runCommand(traces(d, std::string("show --json ") + kTrace));
    CHECK(cli_status == 0);
    CHECK(parse(cli_json)["requests"][0]["span_id"] == r["span_id"]);

    auto [missing, why] = runCommand(traces(d, "show 00000000000000000000000000000000"));
    CHECK(missing == 1);
    CHECK(why.find("no trace 00000000000000000000000000000000") != std::string::npos);
    CHECK(adminGet(d, "/traces/00000000000000000000000000000000").status == 404);
    // An id of bytes that are not UTF-8 is named in valid JSON, U+FFFD for them.
    auto [not_utf8, named] = adminGet(d, "/traces/%FF%FE");
    CHECK(not_utf8 == 404);
    rapidjson::Document doc;
    CHECK_FALSE(doc.Parse<rapidjson::kParseValidateEncodingFlag>(named.data(), named.size()).HasParseError());
    CHECK(named.find("no trace \xEF\xBF\xBD\xEF\xBF\xBD in the store") != std::string::npos);
  }

  SECTION("outrigger traces stats and /traces/stats group the same numbers") {
    auto [status, out] = runCommand(traces(d, "stats --by tenant --json"));
    REQUIRE(status == 0);
    auto cli = parse(out);
    auto [a, body] = adminGet(d, "/traces/stats?by=tenant");
    REQUIRE(a == 200);
    auto admin = parse(body);
    REQUIRE(cli["groups"].Size() == 3);  // acme, beta and the HTTP caller's empty tenant
    CHECK(cli == admin);
    const auto& acme = cli["groups"][0];
    CHECK(std::string(acme["key"].GetString()) == "acme");
    CHECK(acme["requests"].GetUint() == 2);
    CHECK(acme["errors"].GetUint() == 1);
    CHECK(acme["error_rate"].GetDouble() == 0.5);
    auto [s2, table] = runCommand(traces(d, "stats --by prompt_version"));
    CHECK(table.find("greeting@2") != std::string::npos);
    CHECK(runCommand(traces(d, "stats --by planet")).first == 2);
  }

  SECTION("/traces/stats with a bucket gives each group's requests and cost over time") {
    auto [a, body] = adminGet(d, "/traces/stats?by=tenant&bucket=60&since=10m");
    REQUIRE(a == 200);
    auto stats = parse(body);
    CHECK(std::string(stats["by"].GetString()) == "tenant");
    CHECK(stats["bucket_seconds"].GetUint() == 60);
    CHECK(stats["until_unix_ns"].GetInt64() > stats["since_unix_ns"].GetInt64());
    uint64_t requests = 0;
    bool acme = false;
    for (const auto& series : stats["series"].GetArray()) {
      for (const auto& bucket : series["buckets"].GetArray()) {
        requests += bucket["requests"].GetUint64();
        CHECK(bucket["start_unix_ns"].GetInt64() % 60000000000 == 0);
      }
      if (std::string(series["key"].GetString()) == "acme") acme = series["requests"].GetUint64() == 2;
    }
    CHECK(requests == 4);
    CHECK(acme);
    // With absolute bounds the CLI prints the very same document.
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string bounds = "since=" + std::to_string(now - 600) + "&until=" + std::to_string(now + 600);
    auto [a2, bounded] = adminGet(d, "/traces/stats?by=model&bucket=60&" + bounds);
    REQUIRE(a2 == 200);
    auto [cli_status, cli_json] = runCommand(traces(d, "stats --json --by model --bucket 60 --since " +
                                                    std::to_string(now - 600) + " --until " + std::to_string(now + 600)));
    REQUIRE(cli_status == 0);
    CHECK(parse(cli_json) == parse(bounded));
    auto [table_status, table] = runCommand(traces(d, "stats --by tenant --bucket 60 --since 10m"));
    CHECK(table_status == 0);
    CHECK(table.find("BUCKET (UTC)") != std::string::npos);
    CHECK(table.find("acme") != std::string::npos);
    CHECK(runCommand(traces(d, "stats --bucket 60")).first == 2);  // no --since
    auto [b1, why] = adminGet(d, "/traces/stats?by=tenant&bucket=60");
    CHECK(b1 == 400);
    CHECK(why.find("needs since") != std::string::npos);
    CHECK(adminGet(d, "/traces/stats?bucket=0&since=1h").status == 400);
    CHECK(adminGet(d, "/traces/stats?bucket=1&since=7d").status == 400);  // too many buckets
    CHECK(adminGet(d, "/traces?bucket=60&since=1h").status == 400);      // lists have no buckets
  }

  SECTION("bad queries get typed 400s; the CLI finds the store through the daemon's config") {
    auto [a1, b1] = adminGet(d, "/traces?planet=mars");
    CHECK(a1 == 400);
    CHECK(b1.find("unknown query parameter planet") != std::string::npos);
    CHECK(adminGet(d, "/traces?limit=0").status == 400);
    CHECK(adminGet(d, "/traces?since=yesterday").status == 400);
    CHECK(adminGet(d, "/traces/stats?by=planet").status == 400);
    CHECK(adminGet(d, "/traces?tenant=%zz").status == 400);
    CHECK(adminGet(d, "/traces?verdict=maybe").status == 400);
    auto [a2, b2] = adminGet(d, "/traces?status=bogus");
    CHECK(a2 == 400);
    CHECK(b2.find("unknown status bogus") != std::string::npos);
    CHECK(adminGet(d, "/traces?status=unavailable").status == 200);
    auto [status, out] = runCommand(std::string(OUTRIGGER_BIN) + " traces list --json --config " + d.configPath());
    REQUIRE(status == 0);
    CHECK(parse(out)["requests"].Size() == 4);
  }
}

TEST_CASE("trace store: one trace shows at most 100 requests, and traces show and stats escape the control characters a caller sent") {
  DaemonProcess d(basicConfig("mode = \"echo\"",
                              "exporters = [\"traces\"]\ncapture = \"full\"\n"
                              "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\n"
                              "path = \"@DIR@/traces.db\"\ncommit_interval_ms = 20\n"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  // A trace id is the caller's to choose: 101 requests name one. The first answer would clear
  // the screen of whoever reads it in a terminal.
  for (int i = 0; i < 101; ++i) {
    auto r = ask(i == 0 ? "look \x1b[2J\x1b[H all good \xc2\x9b" : "again");
    r.metadata = client::Metadata{};
    r.metadata->traceparent = std::string("00-") + kTrace + "-00f067aa0ba902b7-01";
    if (i == 0) r.metadata->tenant = "evil\x1b]52;c;SGVsbG8=\x07";  // sets the reader's clipboard
    REQUIRE(c.chat(r).ok());
  }
  bool stored = false;
  for (int i = 0; i < 200 && !stored; ++i) {
    auto [status, out] = runCommand(traces(d, "list --json --limit 500"));
    rapidjson::Document doc;
    doc.Parse(out.c_str());
    stored = status == 0 && !doc.HasParseError() && doc.IsObject() && doc["requests"].Size() >= 101;
    if (!stored) std::this_thread::sleep_for(25ms);
  }
  REQUIRE(stored);
  auto [status, json] = runCommand(traces(d, std::string("show ") + kTrace + " --json"));
  REQUIRE(status == 0);
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  REQUIRE(doc.IsObject());
  CHECK(doc["requests"].Size() == 100);
  CHECK(doc["truncated"].GetBool());
  auto [shown, text] = runCommand(traces(d, std::string("show ") + kTrace));
  REQUIRE(shown == 0);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find("\xc2\x9b") == std::string::npos);
  CHECK(text.find("look \\x1b[2J\\x1b[H all good \\u009b") != std::string::npos);
  CHECK(text.find("more requests than one answer shows") != std::string::npos);
  auto [grouped, stats] = runCommand(traces(d, "stats --by tenant"));
  REQUIRE(grouped == 0);
  CHECK(stats.find('\x1b') == std::string::npos);
  CHECK(stats.find("evil\\x1b]52;c;SGVsbG8=\\x07") != std::string::npos);
}

namespace {

// `retention_interval_ms` differs between the two generations, so the reload builds a new
// exporter instance (an unchanged one is kept).
std::string reloadingStoreConfig(const std::string& text, int retention_interval_ms) {
  // Commits once a second, as by default: each instance's batch stays open that long.
  return basicConfig("mode = \"fixed\"\ntext = \"" + text + "\"\nallow_request_overrides = true",
                     "exporters = [\"traces\"]\n"
                     "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\n"
                     "path = \"@DIR@/traces.db\"\nretention_interval_ms = " + std::to_string(retention_interval_ms) + "\n");
}

}  // namespace

// A reload builds a new exporter.sqlite instance on the same file while the old one still takes
// the records of requests begun before it, both on the exporter thread. With a connection each,
// one's open batch kept the other waiting for the write lock until it failed: records lost.
TEST_CASE("trace store: a reload under load loses no record: old and new instances write one file") {
  DaemonProcess d(reloadingStoreConfig("generation one", 1000));
  REQUIRE(d.waitReady());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, saw_new{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 6; ++t) {
    // Quick and slow requests: the old chain's slow ones still end, their records going to the old
    // instance, while the new chain's quick ones go to the new one.
    std::string latency = R"({"latency_ms": )" + std::to_string(t % 2 ? 1200 : 50) + "}";
    load.emplace_back([&, latency] {
      client::Client c(at(d));
      while (!stop) {
        auto r = c.chat(ask("q", latency));
        if (!r.ok()) failed++;
        else ok++, saw_new += r.value().content == "generation two";
      }
    });
  }
  std::this_thread::sleep_for(1500ms);
  d.writeConfig(reloadingStoreConfig("generation two", 2000));
  d.signal(SIGHUP);
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (saw_new < 40 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(1s);  // requests of both chains end meanwhile
  stop = true;
  for (auto& t : load) t.join();
  REQUIRE(saw_new >= 40);
  CHECK(failed == 0);
  size_t stored = 0;
  for (int i = 0; i < 200 && stored < size_t(ok.load()); ++i) {
    auto [status, out] = runCommand(traces(d, "list --json -n 100000"));
    rapidjson::Document doc;
    doc.Parse(out.c_str());
    if (status == 0 && !doc.HasParseError() && doc.IsObject()) stored = doc["requests"].Size();
    std::this_thread::sleep_for(25ms);
  }
  CHECK(stored == size_t(ok.load()));
  CHECK(d.log().find("database is locked") == std::string::npos);
}

TEST_CASE("trace store: the embedded default config keeps one where outrigger traces looks by default") {
  std::ifstream in(std::string(OUTRIGGER_SOURCE_DIR) + "/config/default.toml");
  std::stringstream text;
  text << in.rdbuf();
  std::string config = text.str();
  size_t server = config.find("[server]\n");
  REQUIRE(server != std::string::npos);
  config.insert(server + 9, "socket = \"@SOCKET@\"\n");
  DaemonProcess d(config);  // its XDG_STATE_HOME is its own folder
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE(c.chat(ask("remember me")).ok());
  std::string list = "XDG_STATE_HOME=" + d.dir() + " " + OUTRIGGER_BIN + " traces list --json";
  bool found = false;
  for (int i = 0; i < 200 && !found; ++i) {
    auto [status, out] = runCommand(list);
    rapidjson::Document doc;
    doc.Parse(out.c_str());
    found = status == 0 && !doc.HasParseError() && doc.IsObject() && doc["requests"].Size() == 1;
    if (!found) std::this_thread::sleep_for(25ms);
  }
  CHECK(found);
  std::ifstream store(d.dir() + "/outrigger/traces.db");
  CHECK(store.good());
}
