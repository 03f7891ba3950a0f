// Hedged unary calls through the real daemon: two openai targets on scripted upstreams, arrival
// times from their request logs, and the spans from the JSONL exporter.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <string>

#include <outrigger/client.h>

#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

struct Hedged {
  UpstreamProcess primary, backup;
  std::unique_ptr<DaemonProcess> daemon;
  explicit Hedged(uint32_t delay_ms, const std::string& route_extra = "") {
    REQUIRE(primary.ready());
    REQUIRE(backup.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    daemon = std::make_unique<DaemonProcess>(
        daemonHead() + openaiInstance("primary", primary.baseUrl()) + openaiInstance("backup", backup.baseUrl()) +
        "[routes.default]\nexporters = [\"records\"]\n"
        "targets = [{ provider = \"primary\", model = \"gpt-a\" }, { provider = \"backup\", model = \"gpt-b\" }]\n"
        "hedge = { delay_ms = " + std::to_string(delay_ms) + " }\n" + route_extra);
    REQUIRE(daemon->waitReady());
  }
  std::vector<std::string> stop() {
    daemon->signal(SIGTERM);
    REQUIRE(daemon->waitExit(10s) == 0);
    return records(daemon->dir());
  }
};

}  // namespace

TEST_CASE("hedge via daemon: a slow first target is hedged on the next, the first answer wins, the loser is cancelled") {
  Hedged rig(150);
  REQUIRE(rig.primary.script(R"([{"fault":"slow_first_byte","ms":1500}])"));
  auto t0 = std::chrono::steady_clock::now();
  auto r = client::Client(at(*rig.daemon)).chat(ask("hello"));
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(r.ok());
  CHECK(r.value().model == "gpt-b");
  CHECK(took < 1000ms);  // the hedge's answer, not the slow first attempt's
  auto p = parseJson(rig.primary.log());
  auto b = parseJson(rig.backup.log());
  REQUIRE(p.Size() == 1);
  REQUIRE(b.Size() == 1);
  auto lines = rig.stop();
  REQUIRE(lines.size() == 1);
  // Only after the hedge delay (150 ms from the first attempt's start), by the daemon's own clock:
  // the upstreams' arrival times move with how soon a busy machine runs them.
  auto record = parseJson(lines[0]);
  REQUIRE(record.HasMember("spans"));
  double primary_at = -1, backup_at = -1;
  for (const auto& span : record["spans"].GetArray()) {
    if (std::string(span["stage"].GetString()) != "provider") continue;
    std::string instance = span["instance"].GetString();
    if (instance == "primary") primary_at = span["offset_us"].GetDouble();
    if (instance == "backup") backup_at = span["offset_us"].GetDouble();
  }
  REQUIRE(primary_at >= 0);
  REQUIRE(backup_at >= 0);
  // The timer runs on the loop's millisecond clock, the spans on a finer one: a few ms of slack.
  CHECK(backup_at - primary_at >= 140000);
  CHECK(lines[0].find(R"x("outcome":"hedge primary/gpt-a -> backup/gpt-b (no answer yet)")x") != std::string::npos);
  CHECK(lines[0].find(R"("instance":"primary","offset_us")") != std::string::npos);
  CHECK(lines[0].find(R"("outcome":"cancelled")") != std::string::npos);  // the loser's provider span
}

TEST_CASE("hedge via daemon: a failing first attempt does not end the hedged request") {
  Hedged rig(100);
  REQUIRE(rig.primary.script(R"([{"fault":"status","code":503,"delay_ms":300}])"));
  REQUIRE(rig.backup.script(R"([{"fault":"slow_first_byte","ms":500}])"));
  auto r = client::Client(at(*rig.daemon)).chat(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r.value().model == "gpt-b");
  CHECK(parseJson(rig.primary.log()).Size() == 1);
  CHECK(parseJson(rig.backup.log()).Size() == 1);  // the hedge went on; no extra fallback attempt
}

TEST_CASE("hedge via daemon: a fast answer is not hedged, and streaming calls never are") {
  Hedged rig(100);
  REQUIRE(client::Client(at(*rig.daemon)).chat(ask("hello")).ok());
  REQUIRE(rig.primary.script(R"([{"fault":"slow_first_byte","ms":400}])"));
  client::Client c(at(*rig.daemon));
  auto s = c.stream(ask("hello"));
  client::Chunk chunk;
  std::string text;
  while (s.next(&chunk)) text += chunk.delta;
  REQUIRE(s.result().ok());
  CHECK(text == "Hello from upstream");
  CHECK(s.result().value().model == "gpt-a");
  CHECK(parseJson(rig.primary.log()).Size() == 2);
  CHECK(parseJson(rig.backup.log()).Size() == 0);
}

// Lowest-latency routing learned a target's latency from its answers only: one that turned slow
// lost every race to its hedge, was cancelled, and never answered again, so it stayed "fastest"
// and every request waited out the hedge delay first.
TEST_CASE("hedge via daemon: with lowest_latency, a first target that turned slow and loses to its hedge stops going first") {
  Hedged rig(100, "strategy = \"lowest_latency\"\n");
  REQUIRE(rig.primary.script(R"([{"model":"gpt-a"},{"fault":"slow_first_byte","ms":1500,"repeat":20}])"));
  REQUIRE(rig.backup.script(R"([{"fault":"slow_first_byte","ms":50,"repeat":40}])"));
  client::Client c(at(*rig.daemon));
  REQUIRE(c.chat(ask("warm the first target")).ok());   // unmeasured targets go first, in order
  REQUIRE(c.chat(ask("warm the second target")).ok());  // then the other one: ~50 ms
  REQUIRE(parseJson(rig.primary.log()).Size() == 1);
  REQUIRE(parseJson(rig.backup.log()).Size() == 1);
  for (int i = 0; i < 6; ++i) REQUIRE(c.chat(ask("request " + std::to_string(i))).ok());
  // The first of them went to the fastest, the first target, and lost to its hedge; within a few
  // the first target's recorded time passed the second's, which now goes first.
  size_t primary_after_warmup = parseJson(rig.primary.log()).Size() - 1;
  CHECK(primary_after_warmup >= 1);
  CHECK(primary_after_warmup <= 4);
}
