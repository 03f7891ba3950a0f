// One HealthRegistry hit by several threads at once, as every worker of the daemon does: rate
// buckets, concurrency counts, breakers, retry budgets and the tenant table give exact totals, not
// per-thread ones. Times are fixed so no bucket refills while the threads run.
#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "resilience/attempt_planner.h"
#include "resilience/target_health.h"

using namespace outrigger::resilience;

namespace {

constexpr int kThreads = 4;
constexpr uint64_t kNow = 1000000000;  // any fixed time: the buckets do not refill meanwhile

// Runs `fn(thread_index)` on kThreads threads that start together; returns once all are done.
void onThreads(const std::function<void(int)>& fn) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      fn(i);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace

TEST_CASE("shared health: four threads taking 1000 times each from a 1000-rpm target bucket get exactly 1000") {
  HealthRegistry registry;
  std::atomic<int> taken{0};
  onThreads([&](int) {
    TargetHealth& t = registry.target("openai/gpt");  // looked up from every thread
    t.rpm.setRate(1000);
    for (int i = 0; i < 1000; ++i) taken += t.rpm.take(kNow);
  });
  CHECK(taken == 1000);
  CHECK(registry.target("openai/gpt").rpm.tokens() == 0);
}

TEST_CASE("shared health: attempts in flight are counted across threads, and a planner sees the others'") {
  HealthRegistry registry;
  RoutePolicy policy;
  TargetHealth& t = registry.target("a/m");
  onThreads([&](int) {
    for (int i = 0; i < 1000; ++i) ++t.in_flight;
  });
  CHECK(t.in_flight == kThreads * 1000);
  onThreads([&](int) {
    for (int i = 0; i < 1000; ++i) --t.in_flight;
  });
  CHECK(t.in_flight == 0);

  // Two attempts started on other threads fill a target that allows two: this thread's planner
  // skips it for its concurrency limit.
  TargetHealth& other = registry.target("b/m");
  std::thread([&] { t.in_flight += 2; }).join();
  AttemptPlanner plan(policy,
                      {{"a/m", 1, &t.breaker, -1, &t.budget, &t.in_flight, 2},
                       {"b/m", 1, &other.breaker, -1, &other.budget, &other.in_flight, 2}},
                      0, 1);
  Decision d = plan.first(kNow);
  CHECK(d.target == 1);
  CHECK(d.note.find("a/m (at its concurrency limit)") != std::string::npos);
}

TEST_CASE("shared health: planners on several threads never take more of a target's rate than it has") {
  HealthRegistry registry;
  RoutePolicy policy;
  TargetHealth& t = registry.target("a/m");
  t.rpm.setRate(100);
  std::atomic<int> started{0}, limited{0};
  onThreads([&](int i) {
    for (int n = 0; n < 100; ++n) {
      AttemptPlanner plan(policy, {{"a/m", 1, &t.breaker, -1, &t.budget, &t.in_flight, 0, &t.rpm, &t.tpm}}, 0,
                          uint64_t(i * 1000 + n));
      Decision d = plan.first(kNow);
      (d.kind == Decision::Kind::kStart ? started : limited)++;
    }
  });
  CHECK(started == 100);
  CHECK(limited == kThreads * 100 - 100);
}

TEST_CASE("shared health: failures reported from two threads open one breaker") {
  HealthRegistry registry;
  RoutePolicy policy;
  policy.breaker.failure_threshold = 2;
  policy.breaker.open_ms = 1000;
  TargetHealth& t = registry.configure("a/m", targetPolicyOf(policy), 0, 0);
  std::thread([&] { registry.target("a/m").breaker.onFailure(kNow); }).join();
  CHECK(t.breaker.state(kNow) == CircuitBreaker::State::kClosed);
  std::thread([&] { registry.target("a/m").breaker.onFailure(kNow); }).join();
  CHECK(t.breaker.state(kNow) == CircuitBreaker::State::kOpen);
  CHECK_FALSE(t.breaker.allow(kNow));
}

TEST_CASE("shared health: a breaker counts every thread's failures, and half-open lets exactly one probe through") {
  HealthRegistry registry;
  RoutePolicy policy;
  policy.breaker.failure_threshold = kThreads * 250;  // reached only if no failure is lost
  policy.breaker.open_ms = 10;
  TargetHealth& t = registry.configure("a/m", targetPolicyOf(policy), 0, 0);
  onThreads([&](int) {
    for (int i = 0; i < 250; ++i) t.breaker.onFailure(kNow);
  });
  CHECK(t.breaker.state(kNow) == CircuitBreaker::State::kOpen);
  CHECK(t.breaker.timesOpened() == 1);

  uint64_t later = kNow + 20 * 1000000;  // past open_ms: half-open
  std::atomic<int> admitted{0}, probes{0};
  onThreads([&](int) {
    for (int i = 0; i < 100; ++i) {
      bool probe = false;
      if (t.breaker.allow(later, &probe)) admitted++;
      probes += probe;
    }
  });
  CHECK(admitted == 1);
  CHECK(probes == 1);
}

TEST_CASE("shared health: a retry budget's tokens are spent once across threads") {
  HealthRegistry registry;
  RoutePolicy policy;
  policy.retry.budget_ratio = 0.5;
  TargetHealth& t = registry.configure("a/m", targetPolicyOf(policy), 0, 0);
  std::atomic<int> retries{0};
  onThreads([&](int) {
    for (int i = 0; i < 100; ++i) retries += t.budget.withdraw();
  });
  CHECK(retries == 10);  // the initial reserve, no more
  onThreads([&](int) {
    for (int i = 0; i < 10; ++i) t.budget.deposit();  // 40 first attempts deposit 20 tokens
  });
  CHECK(t.budget.tokens() == Approx(20));
}

TEST_CASE("shared health: a latency average fed from several threads stays within its samples") {
  HealthRegistry registry;
  TargetHealth& t = registry.target("a/m");
  CHECK_FALSE(t.latency.seen());
  onThreads([&](int i) {
    for (int n = 0; n < 1000; ++n) t.latency.add(10.0 * (i + 1));
  });
  CHECK(t.latency.seen());
  CHECK(t.latency.ms() >= 10);
  CHECK(t.latency.ms() <= 10.0 * kThreads);
}

TEST_CASE("upstream identity: the first model is not a change, a new one is, with what it was, and empty reports change nothing") {
  UpstreamIdentity id;
  CHECK(id.observe("m", "gpt-4o-2024-08-06", "fp_a").empty());
  CHECK(id.observe("m", "gpt-4o-2024-08-06", "fp_a").empty());
  CHECK(id.observe("m", "", "").empty());  // a provider that reports neither
  auto changes = id.observe("m", "gpt-4o-2024-11-20", "fp_a");
  REQUIRE(changes.size() == 1);
  CHECK(std::string(changes[0].kind) == "model");
  CHECK(changes[0].from == "gpt-4o-2024-08-06");
  CHECK(changes[0].to == "gpt-4o-2024-11-20");
  changes = id.observe("m", "gpt-4o-2024-11-20", "fp_b");
  REQUIRE(changes.size() == 1);
  CHECK(std::string(changes[0].kind) == "system_fingerprint");
  auto s = id.snapshot();
  CHECK(s.model == "gpt-4o-2024-11-20");
  CHECK(s.fingerprint == "fp_b");
  CHECK(s.model_changes == 1);
  CHECK(s.fingerprint_changes == 1);
  // An upstream's very long model name is kept (and labelled) cut to 128 bytes.
  changes = id.observe("m", std::string(10000, 'x'), "fp_b");
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].to.size() == UpstreamIdentity::kMaxValueBytes);
  CHECK(id.observe("m", std::string(20000, 'x'), "fp_b").empty());  // the same, once cut
  // Control characters cannot forge a log line.
  changes = id.observe("m", "evil\nERROR forged line", "fp_b");
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].to == "evil?ERROR forged line");
}

// A pass-through target is asked for whatever model its callers name: each answers as itself,
// which is no change, and a caller cannot make it track names without end.
TEST_CASE("upstream identity: answers to different models asked are not changes, and the models followed are bounded") {
  UpstreamIdentity id;
  for (int i = 0; i < 3; ++i) {
    CHECK(id.observe("gpt-4o", "gpt-4o-2024-08-06", "fp_a").empty());
    CHECK(id.observe("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "fp_b").empty());
  }
  auto changes = id.observe("gpt-4o", "gpt-4o-2024-11-20", "fp_a");
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].from == "gpt-4o-2024-08-06");
  // Callers naming ever new models: each is followed, in the place of the least recently asked.
  for (size_t i = 0; i < 2 * UpstreamIdentity::kMaxAskedModels; ++i) {
    std::string asked = "m" + std::to_string(i);
    CHECK(id.observe(asked, asked + "-a", "").empty());
    CHECK(id.observe(asked, asked + "-b", "").size() == 1);
  }
  CHECK(id.snapshot().model == "m63-b");
  CHECK(id.snapshot().model_changes == 1 + 2 * UpstreamIdentity::kMaxAskedModels);
  // gpt-4o was let go: its next answer is its first again, not a change.
  CHECK(id.observe("gpt-4o", "gpt-4o-2025-01-01", "fp_a").empty());
}

TEST_CASE("upstream identity: workers observing at once count every change once") {
  UpstreamIdentity id;
  // Four threads see the same sequence of snapshots, A B A B ...: every flip is one change, seen
  // by whichever thread records it first.
  std::atomic<uint64_t> reported{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) reported += id.observe("m", i / 100 % 2 ? "b" : "a", "").size();
    });
  }
  for (auto& th : threads) th.join();
  auto s = id.snapshot();
  CHECK(s.model_changes == reported.load());
  CHECK(s.model_changes >= 9);  // at least the flips one thread alone would see
}
