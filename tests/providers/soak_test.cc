// A mixed-fault soak through the real daemon: a primary OpenAI-compatible upstream injecting
// faults at random (seeded) and a healthy Anthropic fallback. Hidden from the default run:
//   provider_tests "[soak]"            (OUTRIGGER_SOAK_SECONDS, default 60; OUTRIGGER_SOAK_CLIENTS, default 24)
// Pass criteria: zero hung calls, zero untyped failures, success >= 99.9%.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
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
using namespace std::chrono;

namespace {

int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

constexpr char kMix[] = R"({"keep_log": false, "default": {"fault": "mix",
  "choices": [{"fault":"ok"}, {"fault":"status","code":503}, {"fault":"status","code":500},
              {"fault":"status","code":429,"headers":{"retry-after-ms":"20"}},
              {"fault":"reset_mid_stream","after":1}, {"fault":"empty_choices"},
              {"fault":"slow_first_byte","ms":50}, {"fault":"hang","ms":400}],
  "weights": [60, 10, 5, 5, 5, 5, 5, 5]}})";

}  // namespace

TEST_CASE("soak: mixed faults with a healthy fallback, nothing hangs, every failure typed", "[.soak]") {
  const int seconds = envInt("OUTRIGGER_SOAK_SECONDS", 60);
  const int clients = envInt("OUTRIGGER_SOAK_CLIENTS", 24);
  UpstreamProcess primary, backup;
  REQUIRE(primary.ready());
  REQUIRE(backup.ready());
  REQUIRE(primary.post("/_control/script", kMix) == 200);
  REQUIRE(backup.post("/_control/script", R"({"keep_log": false})") == 200);
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-soak", 1);
  std::string config =
      "[server]\nsocket = \"@SOCKET@\"\nworkers = 2\n[plugins]\ndirs = [\"@PLUGINS@\"]\n"
      "[instances.primary]\ntype = \"provider.openai\"\n[instances.primary.config]\nbase_url = \"" +
      primary.baseUrl() + "/v1\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\nfirst_byte_timeout_ms = 200\n"
      "[instances.backup]\ntype = \"provider.anthropic\"\n[instances.backup.config]\nbase_url = \"" +
      backup.baseUrl() + "\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n"
      "[routes.default]\ntargets = [{ provider = \"primary\", model = \"gpt-a\" }, { provider = \"backup\", model = \"claude-b\" }]\n"
      "retry = { max_attempts = 2, base_backoff_ms = 10, max_backoff_ms = 50 }\n"
      "breaker = { failure_threshold = 20, open_ms = 500 }\n";
  DaemonProcess daemon(config);
  REQUIRE(daemon.waitReady());

  std::atomic<uint64_t> ok{0}, typed{0}, untyped{0}, hung{0}, wrong{0};
  std::atomic<bool> stop{false};
  const auto timeout = milliseconds(3000);
  std::vector<std::thread> threads;
  auto t0 = steady_clock::now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      client::Client c(at(daemon));
      for (uint64_t n = 0; !stop.load(); ++n) {
        auto req = ask("soak");
        req.timeout = timeout;
        auto start = steady_clock::now();
        client::Result<client::Response> r = client::Error{};
        if ((n + i) % 2 == 0) {
          r = c.chat(req);
        } else {
          auto s = c.stream(req);
          client::Chunk chunk;
          while (s.next(&chunk)) {
          }
          r = s.result();
        }
        if (steady_clock::now() - start > timeout + milliseconds(1000)) hung++;
        if (r.ok()) {
          (r.value().content == "Hello from upstream" ? ok : wrong)++;
        } else if (r.error().code == client::StatusCode::kUnknown) {
          untyped++;
        } else {
          typed++;
        }
      }
    });
  }
  std::this_thread::sleep_for(seconds * 1s);
  stop = true;
  auto joined_by = steady_clock::now() + timeout + 2s;
  for (auto& t : threads) t.join();
  double elapsed = duration<double>(steady_clock::now() - t0).count();
  uint64_t total = ok + typed + untyped + wrong;
  double success = total ? double(ok) / double(total) : 0;
  std::printf("soak: %d s, %d clients, %llu requests (%.0f/s): ok %llu, typed failures %llu, untyped %llu, "
              "wrong content %llu, hung %llu, success %.4f%%\n",
              seconds, clients, (unsigned long long)total, total / elapsed, (unsigned long long)ok.load(),
              (unsigned long long)typed.load(), (unsigned long long)untyped.load(), (unsigned long long)wrong.load(),
              (unsigned long long)hung.load(), success * 100);
  std::string primary_stats, backup_stats;
  primary.get("/_control/stats", &primary_stats);
  backup.get("/_control/stats", &backup_stats);
  std::printf("soak: primary upstream answered %s; backup %s\n", primary_stats.c_str(), backup_stats.c_str());
  CHECK(steady_clock::now() <= joined_by);
  CHECK(hung == 0);
  CHECK(untyped == 0);
  CHECK(wrong == 0);
  CHECK(success >= 0.999);
  CHECK(daemon.alive());
}
