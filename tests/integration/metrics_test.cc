// /metrics after real traffic through the daemon: request latency and time-to-first-chunk
// histograms, cache lookups by cache and result, guardrail verdicts, breaker states; and the
// whole live scrape passes `promtool check metrics` (Debian `prometheus`).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include <outrigger/client.h>

#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/run_command.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;

TEST_CASE("metrics: latency, first chunk, cache lookups, verdicts and breakers after real traffic, and promtool accepts the scrape") {
  DaemonProcess d(basicConfig("mode = \"echo\"",
                              "cache = \"memo\"\n[instances.memo]\ntype = \"cache.memory\"\n"
                              "[admin]\nlisten = \"127.0.0.1:0\"\n"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE(c.chat(ask("hello")).ok());        // a miss, then stored
  REQUIRE(c.chat(ask("hello")).ok());        // a hit
  auto denied = c.chat(ask("a forbidden phrase"));  // denied before the cache
  REQUIRE_FALSE(denied.ok());
  auto s = c.stream(ask("stream me please"));  // a miss, streamed
  client::Chunk chunk;
  while (s.next(&chunk)) {
  }
  REQUIRE(s.result().ok());

  std::string r = "route=\"default\"";
  CHECK(adminMetric(d, "outrigger_cache_lookups_total{" + r + ",cache=\"memo\",result=\"hit\"}") == 1);
  CHECK(adminMetric(d, "outrigger_cache_lookups_total{" + r + ",cache=\"memo\",result=\"miss\"}") == 2);
  CHECK(adminMetric(d, "outrigger_guardrail_verdicts_total{" + r + ",guardrail=\"input_rules\",verdict=\"pass\"}") == 3);
  CHECK(adminMetric(d, "outrigger_guardrail_verdicts_total{" + r + ",guardrail=\"input_rules\",verdict=\"deny\"}") == 1);
  CHECK(adminMetric(d, "outrigger_request_duration_seconds_count{" + r + ",code=\"OK\"}") == 3);
  CHECK(adminMetric(d, "outrigger_request_duration_seconds_count{" + r + ",code=\"PERMISSION_DENIED\"}") == 1);
  CHECK(adminMetric(d, "outrigger_request_duration_seconds_bucket{" + r + ",code=\"OK\",le=\"+Inf\"}") == 3);
  CHECK(adminMetric(d, "outrigger_time_to_first_chunk_seconds_count{" + r + "}") == 1);
  CHECK(adminMetric(d, "outrigger_breaker_state{target=\"mock/*\"}") == 0);  // closed
  CHECK(adminMetric(d, "outrigger_exporter_queue_depth") == 0);

  std::string text = adminMetricsText(d);
  size_t body = text.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  std::string path = d.dir() + "/scrape.txt";
  std::ofstream(path) << text.substr(body + 4);
  auto [status, out] = runCommand("promtool check metrics < " + path);
  INFO(out);
  CHECK(status == 0);
}

// exporter.jsonl with a buffer: records it buffered and then could not write were dropped and
// counted as exported, and a quiet daemon kept them in memory until the buffer filled.
TEST_CASE("metrics: exporter.jsonl writes its buffer within a second, and counts what it cannot write as lost") {
  const std::string jsonl = "exporters = [\"lines\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n"
                            "[instances.lines]\ntype = \"exporter.jsonl\"\n[instances.lines.config]\nbuffer_bytes = 1048576\n";
  {
    DaemonProcess d(basicConfig("mode = \"echo\"", jsonl + "path = \"@DIR@/records.jsonl\"\n"));
    REQUIRE(d.waitReady());
    client::Client c(at(d));
    REQUIRE(c.chat(ask("one")).ok());
    REQUIRE(c.chat(ask("two")).ok());
    std::string records;
    for (int i = 0; i < 300 && std::count(records.begin(), records.end(), '\n') < 2; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::ifstream in(d.dir() + "/records.jsonl");
      records.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    CHECK(std::count(records.begin(), records.end(), '\n') == 2);  // written with the daemon still up
  }
  DaemonProcess full(basicConfig("mode = \"echo\"", jsonl + "path = \"/dev/full\"\n"));
  REQUIRE(full.waitReady());
  client::Client c(at(full));
  for (int i = 0; i < 3; ++i) REQUIRE(c.chat(ask("q" + std::to_string(i))).ok());
  double lost = 0;
  for (int i = 0; i < 300 && lost < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lost = adminMetric(full, "outrigger_jsonl_records_lost_total{plugin_instance=\"lines\"}");
  }
  CHECK(lost == 3);
}

// A streamed answer was kept whole without a bound: an upstream that streams without end held
// the daemon's memory until the deadline.
TEST_CASE("metrics: a streamed answer past the route's max_answer_bytes ends RESOURCE_EXHAUSTED, counted") {
  DaemonProcess d(basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                              "max_answer_bytes = 4096\n[admin]\nlisten = \"127.0.0.1:0\"\n"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto streamed = [&](size_t bytes) {
    auto s = c.stream(ask("hi", R"({"text": ")" + std::string(bytes, 'x') + R"(", "chunks": 20})"));
    client::Chunk chunk;
    size_t received = 0;
    while (s.next(&chunk)) received += chunk.delta.size();
    return std::make_pair(s.result(), received);
  };
  auto [small, small_bytes] = streamed(2000);
  REQUIRE(small.ok());
  CHECK(small_bytes == 2000);
  auto [large, large_bytes] = streamed(20000);
  REQUIRE_FALSE(large.ok());
  CHECK(large.error().code == client::StatusCode::kResourceExhausted);
  CHECK(large.error().message.find("max_answer_bytes (4096)") != std::string::npos);
  CHECK(large_bytes <= 4096);
  CHECK(adminMetric(d, "outrigger_answer_overflows_total") == 1);
  REQUIRE(c.chat(ask("still serving")).ok());
}

// Two mock targets, `first` then `second` (each "name: its config lines"), hedged after 50 ms,
// with max_answer_bytes = 1024; and the answer to `words` words ("word " each).
struct HedgedBound {
  DaemonProcess d;
  HedgedBound(const std::string& first, const std::string& first_config, const std::string& second,
              const std::string& second_config)
      : d("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
          instance(first, first_config) + instance(second, second_config) +
          "[routes.default]\ntargets = [{ provider = \"" + first + "\" }, { provider = \"" + second +
          "\" }]\nhedge = { delay_ms = 50 }\nmax_answer_bytes = 1024\n[admin]\nlisten = \"127.0.0.1:0\"\n") {
    REQUIRE(d.waitReady());
  }
  static std::string instance(const std::string& name, const std::string& config) {
    return "[instances." + name + "]\ntype = \"provider.mock\"\n[instances." + name + ".config]\n" + config;
  }
  client::Result<client::Response> ask(int words) {
    std::string text;
    for (int i = 0; i < words; ++i) text += "word ";
    client::Client c(at(d));
    return c.chat(outrigger::testing::ask(text));
  }
};

// A hedge whose answer goes past the bound is dropped; the first attempt still answers.
TEST_CASE("metrics: a hedge past max_answer_bytes is dropped and the first attempt answers") {
  HedgedBound rig("slow", "mode = \"fixed\"\ntext = \"short answer\"\nlatency_ms = 400\n", "long",
                  "mode = \"echo\"\nstream_chunks = 50\n");
  auto r = rig.ask(600);
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r.value().content == "short answer");
  CHECK(adminMetric(rig.d, "outrigger_answer_overflows_total") == 1);
}

// The other way round: the first attempt streams past the bound while a hedge runs; it is
// dropped alone and the hedge answers.
TEST_CASE("metrics: a first attempt past max_answer_bytes is dropped and the hedge answers") {
  HedgedBound rig("long", "mode = \"echo\"\nstream_chunks = 50\nchunk_interval_ms = 20\n", "other",
                  "mode = \"fixed\"\ntext = \"hedged answer\"\nlatency_ms = 600\n");
  auto r = rig.ask(600);
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r.value().content == "hedged answer");
  CHECK(adminMetric(rig.d, "outrigger_answer_overflows_total") == 1);
}

// A hedge that takes over from a failed first attempt brings its bytes so far: the bound holds
// over its whole answer (it counted from zero again, so up to twice the bound went through).
TEST_CASE("metrics: a hedge that takes over from a failed first attempt counts its whole answer against max_answer_bytes") {
  HedgedBound rig("failing", "mode = \"echo\"\nfail_every = 1\nlatency_ms = 600\n", "long",
                  "mode = \"echo\"\nstream_chunks = 50\nchunk_interval_ms = 20\n");
  auto r = rig.ask(300);  // 1,500 bytes: 810 before the takeover, 690 after
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == client::StatusCode::kResourceExhausted);
  CHECK(adminMetric(rig.d, "outrigger_answer_overflows_total") == 1);
}

// A first attempt that failed while hedged, after its upstream billed it, gave that usage back:
// the request reported the winner's alone while the cost counters counted both.
TEST_CASE("metrics: a billed attempt that failed while hedged keeps its usage in the request's") {
  HedgedBound rig("billed", "mode = \"fixed\"\ntext = \"never\"\nfail_every = 1\nfail_billed = true\nlatency_ms = 300\n",
                  "other", "mode = \"fixed\"\ntext = \"hedged answer\"\nlatency_ms = 600\n");
  auto r = rig.ask(4);  // a prompt of 4 words: 4 tokens to the mock
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r.value().content == "hedged answer");
  CHECK(r.value().usage.prompt_tokens == 4 + 4);
  CHECK(r.value().usage.completion_tokens == 2);
}
