// Limits and breakers through the real daemon with two workers: two connections open at once land
// on different workers (the daemon gives each new connection to the worker with the fewest), and
// a rate limit, a concurrency limit or a breaker holds for both together, not for each.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <thread>

#include <outrigger/client.h>

#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;
using namespace std::chrono_literals;

namespace {

// basicConfig runs two workers; each route here has one mock target.
std::string sharedLimitsConfig() {
  return basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                     "tenant_rpm = 3\n"
                     "[routes.target_rpm]\ntargets = [{ provider = \"mock\", model = \"r\", rpm = 3 }]\n"
                     "[routes.one_at_a_time]\ntargets = [{ provider = \"mock\", model = \"c\", max_concurrent = 1 }]\n"
                     "limits = { on_limit = \"queue\", queue_max = 4, queue_timeout_ms = 5000 }\n"
                     "[routes.fragile]\ntargets = [{ provider = \"mock\", model = \"f\" }]\n"
                     "breaker = { failure_threshold = 2, open_ms = 60000 }\n"
                     "[admin]\nlisten = \"127.0.0.1:0\"\n");
}

client::ChatRequest on(const std::string& route, const std::string& tenant, const std::string& mock = "") {
  client::ChatRequest r = ask("hello", mock);
  r.model = route;
  client::Metadata m;
  m.tenant = tenant;
  r.metadata = m;
  return r;
}

// Two clients connected before either sends: one connection on each worker.
struct TwoWorkers {
  DaemonProcess daemon{sharedLimitsConfig()};
  std::optional<client::Client> first, second;
  TwoWorkers() {
    REQUIRE(daemon.waitReady());
    first.emplace(at(daemon));
    second.emplace(at(daemon));
    REQUIRE_FALSE(first->connect());
    REQUIRE_FALSE(second->connect());
  }
};

}  // namespace

TEST_CASE("two workers: a tenant's requests per minute are admitted exactly that many times across connections") {
  TwoWorkers rig;
  int ok = 0;
  for (int i = 0; i < 3; ++i) {
    auto r = rig.first->chat(on("default", "acme"));
    CHECK(r.ok());  // one connection gets the whole limit, not a worker's share of it
    ok += r.ok();
  }
  for (int i = 0; i < 3; ++i) {
    auto r = rig.second->chat(on("default", "acme"));
    CHECK_FALSE(r.ok());  // the other worker sees the same, spent, bucket
    if (!r.ok()) {
      CHECK(r.error().code == StatusCode::kResourceExhausted);
      CHECK(r.error().retryable);
    }
    ok += r.ok();
  }
  CHECK(ok == 3);
  CHECK(rig.second->chat(on("default", "globex")).ok());  // another tenant has its own bucket
}

TEST_CASE("two workers: a target's requests per minute are admitted exactly that many times across connections") {
  TwoWorkers rig;
  int ok = 0;
  // Alternating connections: each worker draws on the one bucket.
  for (int i = 0; i < 6; ++i) {
    client::Client& c = i % 2 ? *rig.second : *rig.first;
    auto r = c.chat(on("target_rpm", "tenant-" + std::to_string(i)));  // a tenant each: only the target limits
    if (r.ok()) ++ok;
    else CHECK(r.error().code == StatusCode::kResourceExhausted);
  }
  CHECK(ok == 3);
}

TEST_CASE("two workers: max_concurrent counts attempts on both, and a slot freed on one admits the waiter on the other") {
  TwoWorkers rig;
  using Clock = std::chrono::steady_clock;
  std::optional<client::Result<client::Response>> slow;
  Clock::time_point slow_sent = Clock::now();
  std::thread a([&] { slow.emplace(rig.first->chat(on("one_at_a_time", "acme", R"({"latency_ms": 800})"))); });
  // Until the slow attempt holds the target's one slot.
  for (int i = 0; i < 500 && adminMetric(rig.daemon, "outrigger_attempts_total") < 1; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(adminMetric(rig.daemon, "outrigger_attempts_total") == 1);
  auto t0 = Clock::now();
  auto waited = rig.second->chat(on("one_at_a_time", "globex"));
  auto done = Clock::now();
  a.join();
  REQUIRE(slow->ok());
  REQUIRE(waited.ok());
  // It did not run beside the slow one on its own worker: it could only start once the slow
  // attempt's 800 ms were over (the two answers may then reach their clients in either order).
  CHECK(done - slow_sent >= 800ms);
  CHECK(done - t0 < 3000ms);  // woken by the freed slot, not by the 5 s queue timeout
}

TEST_CASE("two workers: failures seen on both workers open one breaker for both") {
  TwoWorkers rig;
  const char* fail = R"({"fail": {"code": "UNAVAILABLE", "retryable": true, "message": "upstream down"}})";
  auto one = rig.first->chat(on("fragile", "acme", fail));
  REQUIRE_FALSE(one.ok());
  CHECK(one.error().code == StatusCode::kUnavailable);
  auto two = rig.second->chat(on("fragile", "globex", fail));
  REQUIRE_FALSE(two.ok());
  // Two failures in all reach the threshold: neither worker sends the next request upstream.
  for (client::Client* c : {&*rig.first, &*rig.second}) {
    auto r = c->chat(on("fragile", "initech"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StatusCode::kUnavailable);
    CHECK(r.error().message.find("circuit breaker") != std::string::npos);
  }
}
