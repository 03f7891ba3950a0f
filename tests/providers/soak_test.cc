// A mixed soak through the real daemon: a primary OpenAI-compatible upstream injecting faults at
// random (seeded), a healthy Anthropic fallback, the SQLite trace store on, and clients mixing
// unary calls, streams, streams cancelled after their first chunk and calls with a short deadline.
// Hidden from the default run (a benchmark, run on demand):
//   provider_tests "[soak]"   (OUTRIGGER_SOAK_SECONDS, default 60; OUTRIGGER_SOAK_CLIENTS, default 24)
// Pass criteria: zero hung calls, zero untyped failures, success >= 99.9% of the plain calls,
// cancels end CANCELLED (or OK when the answer won), deadlines end DEADLINE_EXCEEDED (or OK), and
// the daemon's RSS at the end at most 5% above its RSS after the warm-up (a fifth of the run).
#include <catch2/catch.hpp>

#include <algorithm>
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
      "breaker = { failure_threshold = 20, open_ms = 500 }\n"
      "exporters = [\"traces\"]\n"
      "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\npath = \"@DIR@/traces.db\"\n";
  DaemonProcess daemon(config);
  REQUIRE(daemon.waitReady());

  std::atomic<uint64_t> ok{0}, typed{0}, untyped{0}, hung{0}, wrong{0};
  std::atomic<uint64_t> cancels{0}, cancels_wrong{0}, deadlines{0}, deadlines_wrong{0};
  std::atomic<uint64_t> unexpected_codes[17] = {};  // how the wrongly ended ones ended, by status code
  std::atomic<bool> stop{false};
  // RSS sampled every second; the warm-up is the first fifth of the run.
  std::vector<long> rss;
  std::thread sampler([&] {
    while (!stop.load()) {
      rss.push_back(daemon.rssKb());
      for (int i = 0; i < 10 && !stop.load(); ++i) std::this_thread::sleep_for(100ms);
    }
  });
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
        if ((n + i) % 8 == 3) {  // a stream the caller gives up on after its first chunk
          auto s = c.stream(req);
          client::Chunk chunk;
          if (s.next(&chunk)) s.cancel();
          while (s.next(&chunk)) {
          }
          auto end = s.result();
          if (steady_clock::now() - start > timeout + milliseconds(1000)) hung++;
          cancels++;
          if (!end.ok() && end.error().code == client::StatusCode::kUnknown) untyped++;
          if (!end.ok() && end.error().code != client::StatusCode::kCancelled &&
              end.error().code != client::StatusCode::kUnavailable) {
            cancels_wrong++;  // UNAVAILABLE: every target failed before the first chunk
            unexpected_codes[static_cast<int>(end.error().code) % 17]++;
          }
          continue;
        }
        if ((n + i) % 8 == 7) {  // a deadline shorter than the upstream's slow answers
          req.timeout = milliseconds(150);
          r = c.chat(req);
          if (steady_clock::now() - start > req.timeout + milliseconds(1000)) hung++;
          deadlines++;
          if (!r.ok() && r.error().code == client::StatusCode::kUnknown) untyped++;
          if (!r.ok() && r.error().code != client::StatusCode::kDeadlineExceeded &&
              r.error().code != client::StatusCode::kUnavailable) {
            deadlines_wrong++;
            unexpected_codes[static_cast<int>(r.error().code) % 17]++;
          }
          continue;
        }
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
  sampler.join();
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
  // RSS: three samples averaged at the end of the warm-up and at the end of the run.
  auto average = [&](size_t from) {
    long sum = 0;
    for (size_t k = from; k < from + 3; ++k) sum += rss[k];
    return double(sum) / 3;
  };
  REQUIRE(rss.size() >= 10);
  double warm = average(rss.size() / 5), last = average(rss.size() - 3);
  long peak = *std::max_element(rss.begin(), rss.end());
  std::printf("soak: cancels %llu (wrongly ended %llu), short deadlines %llu (wrongly ended %llu)\n",
              (unsigned long long)cancels.load(), (unsigned long long)cancels_wrong.load(),
              (unsigned long long)deadlines.load(), (unsigned long long)deadlines_wrong.load());
  std::printf("soak: daemon RSS after warm-up %.0f KB, at the end %.0f KB (%+.2f%%), peak %ld KB, %zu samples\n",
              warm, last, (last / warm - 1) * 100, peak, rss.size());
  for (int k = 0; k < 17; ++k) {
    if (unexpected_codes[k]) std::printf("soak: wrongly ended with status %d: %llu\n", k, (unsigned long long)unexpected_codes[k].load());
  }
  std::printf("soak: RSS KB at each tenth of the run:");
  for (int k = 1; k <= 10; ++k) std::printf(" %ld", rss[std::min(rss.size() - 1, rss.size() * k / 10)]);
  std::printf("\n");
  CHECK(steady_clock::now() <= joined_by);
  CHECK(cancels_wrong == 0);
  CHECK(deadlines_wrong == 0);
  CHECK(last <= warm * 1.05);
  CHECK(hung == 0);
  CHECK(untyped == 0);
  CHECK(wrong == 0);
  CHECK(success >= 0.999);
  CHECK(daemon.alive());
}
