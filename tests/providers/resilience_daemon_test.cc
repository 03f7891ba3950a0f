// Retries, fallback and the circuit breaker through the real daemon, two openai targets each on
// its own scripted upstream; attempt counts and backoff are read from the upstreams' logs.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;

namespace {

std::string instance(const std::string& name, const UpstreamProcess& up) {
  return "[instances." + name + "]\ntype = \"provider.openai\"\n[instances." + name + ".config]\n" +
         "base_url = \"" + up.baseUrl() + "/v1\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n" +
         "first_byte_timeout_ms = 2000\n";
}

struct TwoTargets {
  UpstreamProcess primary, backup;
  std::unique_ptr<DaemonProcess> daemon;
  std::unique_ptr<client::Client> client;
  explicit TwoTargets(const std::string& route_extra) {
    REQUIRE(primary.ready());
    REQUIRE(backup.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    std::string config = "[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
                         instance("primary", primary) + instance("backup", backup) +
                         "[routes.default]\ntargets = [{ provider = \"primary\", model = \"gpt-a\" }, "
                         "{ provider = \"backup\", model = \"gpt-b\" }]\n" + route_extra;
    daemon = std::make_unique<DaemonProcess>(config);
    REQUIRE(daemon->waitReady());
    client = std::make_unique<client::Client>(at(*daemon));
  }
};

rapidjson::Document logOf(UpstreamProcess& up) {
  rapidjson::Document d;
  d.Parse(up.log().c_str());
  return d;
}

}  // namespace

TEST_CASE("resilience via daemon: a 503 then a 429 with retry-after-ms are retried on the same target") {
  TwoTargets rig("retry = { max_attempts = 3, base_backoff_ms = 10, max_backoff_ms = 40 }\n");
  REQUIRE(rig.primary.script(R"([{"fault":"status","code":503},
      {"fault":"status","code":429,"headers":{"retry-after-ms":"250"}}])"));
  auto r = rig.client->chat(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r.value().model == "gpt-a");
  auto log = logOf(rig.primary);
  REQUIRE(log.Size() == 3);
  double gap1 = log[1]["t"].GetDouble() - log[0]["t"].GetDouble();
  double gap2 = log[2]["t"].GetDouble() - log[1]["t"].GetDouble();
  CHECK(gap1 < 0.2);     // backoff within [0, 10] ms plus overheads
  CHECK(gap2 >= 0.25);   // the upstream's retry-after-ms is honoured
  CHECK(gap2 < 0.6);
  CHECK(logOf(rig.backup).Size() == 0);
}

TEST_CASE("resilience via daemon: retries exhausted fall back to the next target, streams too") {
  TwoTargets rig("retry = { max_attempts = 2, base_backoff_ms = 5, max_backoff_ms = 10 }\n");
  REQUIRE(rig.primary.post("/_control/script", R"({"default": {"fault":"status","code":500}})") == 200);
  auto r = rig.client->chat(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r.value().content == "Hello from upstream");
  CHECK(r.value().model == "gpt-b");
  CHECK(logOf(rig.primary).Size() == 2);
  auto b = logOf(rig.backup);
  REQUIRE(b.Size() == 1);
  CHECK(std::string(b[0]["body"]["model"].GetString()) == "gpt-b");

  auto s = rig.client->stream(ask("hello"));
  client::Chunk chunk;
  std::string text;
  while (s.next(&chunk)) text += chunk.delta;
  REQUIRE(s.result().ok());
  CHECK(text == "Hello from upstream");
}

TEST_CASE("resilience via daemon: a non-retryable request error is neither retried nor rerouted") {
  TwoTargets rig("retry = { max_attempts = 3 }\n");
  REQUIRE(rig.primary.script(R"([{"fault":"status","code":400}])"));
  auto r = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kInvalidArgument);
  CHECK(logOf(rig.primary).Size() == 1);
  CHECK(logOf(rig.backup).Size() == 0);
}

TEST_CASE("resilience via daemon: no retry once a chunk reached the client") {
  TwoTargets rig("retry = { max_attempts = 3 }\n");
  REQUIRE(rig.primary.script(R"([{"fault":"reset_mid_stream","after":3,"gap_ms":20}])"));
  auto s = rig.client->stream(ask("hello"));
  client::Chunk chunk;
  int chunks = 0;
  while (s.next(&chunk)) ++chunks;
  CHECK(chunks >= 1);
  REQUIRE_FALSE(s.result().ok());
  CHECK(s.result().error().code == StatusCode::kUnavailable);
  CHECK(logOf(rig.primary).Size() == 1);
  CHECK(logOf(rig.backup).Size() == 0);
}

TEST_CASE("resilience via daemon: the breaker opens on failures, skips the target, and recovers") {
  TwoTargets rig("breaker = { failure_threshold = 2, open_ms = 400 }\n");
  REQUIRE(rig.primary.script(R"([{"fault":"status","code":503,"repeat":2}])"));
  for (int i = 0; i < 4; ++i) {
    auto r = rig.client->chat(ask("hello"));
    REQUIRE(r.ok());  // the backup answers every time
  }
  CHECK(logOf(rig.primary).Size() == 2);  // open after two failures: requests 3 and 4 skip it
  CHECK(logOf(rig.backup).Size() == 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(450));  // past open_ms: a half-open probe
  auto probe = rig.client->chat(ask("hello"));
  REQUIRE(probe.ok());
  CHECK(probe.value().model == "gpt-a");  // the probe succeeded: closed again
  auto after = rig.client->chat(ask("hello"));
  REQUIRE(after.ok());
  CHECK(after.value().model == "gpt-a");
  CHECK(logOf(rig.primary).Size() == 4);
}

// Breakers are per target, and a target is shared by the routes that name it. Its policy was set
// by whichever route's request came last: one route's trip refused another route that has no
// breaker, and that route's requests could keep the first one's from ever opening.
TEST_CASE("resilience via daemon: a route without a breaker is not refused by another route's trip of the same target") {
  TwoTargets rig("breaker = { failure_threshold = 1, open_ms = 30000 }\n"
                 "[routes.plain]\ntargets = [{ provider = \"primary\", model = \"gpt-a\" }]\n");
  REQUIRE(rig.primary.script(R"([{"fault":"status","code":503}])"));
  auto tripped = rig.client->chat(ask("hello"));
  REQUIRE(tripped.ok());
  CHECK(tripped.value().model == "gpt-b");  // primary failed once: its breaker is open for "default"
  auto plain_request = ask("hello");
  plain_request.model = "plain";
  for (int i = 0; i < 3; ++i) {
    auto r = rig.client->chat(plain_request);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    CHECK(r.value().model == "gpt-a");
  }
  CHECK(logOf(rig.primary).Size() == 4);
  auto still = rig.client->chat(ask("hello"));  // "plain"'s successes do not close "default"'s breaker
  REQUIRE(still.ok());
  CHECK(still.value().model == "gpt-b");
  CHECK(logOf(rig.primary).Size() == 4);
}

// A half-open breaker lets one probe through. A stream as the probe gave its verdict only at its
// end, so a healthy target refused every other request for as long as the stream ran.
TEST_CASE("resilience via daemon: a streamed probe closes the breaker at its first chunk, not its end") {
  UpstreamProcess primary;
  REQUIRE(primary.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess daemon("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
                       instance("primary", primary) +
                       "[routes.default]\ntargets = [{ provider = \"primary\", model = \"gpt-a\" }]\n"
                       "breaker = { failure_threshold = 1, open_ms = 200 }\n");
  REQUIRE(daemon.waitReady());
  client::Client streamer(at(daemon)), other(at(daemon));
  REQUIRE(primary.script(R"([{"fault":"status","code":503},{"fault":"ok","pieces":6,"gap_ms":250}])"));
  REQUIRE_FALSE(other.chat(ask("hello")).ok());  // the breaker opens
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // past open_ms: half-open
  std::thread stream([&] {
    auto s = streamer.stream(ask("hello"));
    client::Chunk chunk;
    while (s.next(&chunk)) {
    }
    CHECK(s.result().ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the probe is mid-stream
  auto during = other.chat(ask("hello"));
  INFO((during.ok() ? std::string() : during.error().message));
  CHECK(during.ok());
  stream.join();
}

TEST_CASE("resilience via daemon: a deadline shorter than the retry-after ends on time, typed") {
  TwoTargets rig("retry = { max_attempts = 3, max_retry_after_ms = 10000 }\n");
  REQUIRE(rig.primary.script(R"([{"fault":"status","code":503,"headers":{"retry-after":"2"}}])"));
  REQUIRE(rig.backup.script(R"([{"fault":"hang","ms":3000}])"));
  auto req = ask("hello");
  req.timeout = std::chrono::milliseconds(400);
  auto t0 = std::chrono::steady_clock::now();
  auto r = rig.client->chat(req);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE_FALSE(r.ok());
  // A 2 s retry-after cannot fit in 400 ms: the backup is tried at once and hangs to the deadline.
  CHECK(r.error().code == StatusCode::kDeadlineExceeded);
  CHECK(r.error().origin != "client");
  CHECK(took < 400 + 1500);  // the retry-after honoured would be over 2000
  CHECK(logOf(rig.primary).Size() == 1);
  CHECK(logOf(rig.backup).Size() == 1);
}

TEST_CASE("resilience via daemon: a target at its concurrency limit sends the overflow to the fallback") {
  UpstreamProcess primary, backup;
  REQUIRE(primary.ready());
  REQUIRE(backup.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess daemon("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
                       instance("primary", primary) + instance("backup", backup) +
                       "[routes.default]\ntargets = [{ provider = \"primary\", model = \"gpt-a\", max_concurrent = 1 }, "
                       "{ provider = \"backup\", model = \"gpt-b\" }]\n");
  REQUIRE(daemon.waitReady());
  REQUIRE(primary.script(R"([{"fault":"slow_first_byte","ms":400}])"));
  client::Client c(at(daemon));
  std::atomic<int> on_primary{0}, on_backup{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      client::Client own(at(daemon));
      auto r = own.chat(ask("hello"));
      if (r.ok()) (r.value().model == "gpt-a" ? on_primary : on_backup)++;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& t : threads) t.join();
  CHECK(on_primary == 1);
  CHECK(on_backup == 2);
  CHECK(logOf(primary).Size() == 1);
}

TEST_CASE("resilience via daemon: target RPM overflows to the fallback, tenant RPM fails fast, typed") {
  TwoTargets rig("tenant_rpm = 3\n");
  // The route above has no target rpm: rebuild with one on the primary.
  UpstreamProcess primary, backup;
  REQUIRE(primary.ready());
  REQUIRE(backup.ready());
  DaemonProcess daemon("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
                       instance("primary", primary) + instance("backup", backup) +
                       "[routes.default]\ntargets = [{ provider = \"primary\", model = \"gpt-a\", rpm = 2 }, "
                       "{ provider = \"backup\", model = \"gpt-b\" }]\n");
  REQUIRE(daemon.waitReady());
  client::Client c(at(daemon));
  std::vector<std::string> models;
  for (int i = 0; i < 3; ++i) {
    auto r = c.chat(ask("hello"));
    REQUIRE(r.ok());
    models.push_back(r.value().model);
  }
  CHECK(models == std::vector<std::string>{"gpt-a", "gpt-a", "gpt-b"});

  auto as = [](const std::string& tenant) {
    auto r = ask("hello");
    client::Metadata m;
    m.tenant = tenant;
    r.metadata = m;
    return r;
  };
  for (int i = 0; i < 3; ++i) REQUIRE(rig.client->chat(as("acme")).ok());
  auto over = rig.client->chat(as("acme"));
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == StatusCode::kResourceExhausted);
  CHECK(over.error().retryable);
  CHECK(over.error().retry_after_ms > 1000);
  CHECK(rig.client->chat(as("globex")).ok());  // another tenant has its own budget
}

TEST_CASE("resilience via daemon: a target over its tokens per minute sends the next request to the fallback") {
  UpstreamProcess primary, backup;
  REQUIRE(primary.ready());
  REQUIRE(backup.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  // Each upstream answer reports 17 tokens, and "hello" is estimated at 9 (its text / 4, plus the
  // chat format's 3 a message and 3): the first leaves 13 of 30, enough for the second, which
  // leaves a debt.
  DaemonProcess daemon("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
                       instance("primary", primary) + instance("backup", backup) +
                       "[routes.default]\ntargets = [{ provider = \"primary\", model = \"gpt-a\", tpm = 30 }, "
                       "{ provider = \"backup\", model = \"gpt-b\" }]\n");
  REQUIRE(daemon.waitReady());
  client::Client c(at(daemon));
  std::vector<std::string> models;
  for (int i = 0; i < 3; ++i) {
    auto r = c.chat(ask("hello"));
    REQUIRE(r.ok());
    models.push_back(r.value().model);
  }
  CHECK(models == std::vector<std::string>{"gpt-a", "gpt-a", "gpt-b"});
}
