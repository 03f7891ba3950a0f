// The core's resilience decisions (sidecar/resilience) on a fake clock with seeded randomness.
#include <algorithm>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <map>
#include <string>

#include "config/config.h"
#include "resilience/attempt_planner.h"
#include "resilience/circuit_breaker.h"

using namespace outrigger::resilience;
using Kind = Decision::Kind;

namespace {

constexpr uint64_t kMs = 1000000;

AttemptFailure unavailable(uint32_t retry_after_ms = 0) {
  return {OUTRIGGER_CODE_UNAVAILABLE, true, retry_after_ms};
}

struct Targets {
  CircuitBreaker a, b, c;
  explicit Targets(BreakerPolicy p = {}) : a(p), b(p), c(p) {}
  std::vector<TargetView> views() { return {{"a/m", 1, &a}, {"b/m", 1, &b}, {"c/m", 1, &c}}; }
};

}  // namespace

TEST_CASE("breaker: opens after consecutive failures, half-opens one probe, closes on success") {
  CircuitBreaker b({3, 1000});
  uint64_t t = 10 * kMs;
  CHECK(b.allow(t));
  b.onFailure(t);
  b.onFailure(t);
  b.onSuccess();  // a success resets the count
  b.onFailure(t);
  b.onFailure(t);
  CHECK(b.state(t) == CircuitBreaker::State::kClosed);
  b.onFailure(t);
  CHECK(b.state(t) == CircuitBreaker::State::kOpen);
  CHECK_FALSE(b.allow(t + 500 * kMs));
  CHECK(b.openRemainingMs(t + 500 * kMs) == 500);
  CHECK(b.state(t + 1000 * kMs) == CircuitBreaker::State::kHalfOpen);
  CHECK(b.allow(t + 1000 * kMs));        // the probe
  CHECK_FALSE(b.allow(t + 1001 * kMs));  // only one at a time
  b.onFailure(t + 1100 * kMs);           // a failed probe re-opens at once
  CHECK(b.state(t + 1200 * kMs) == CircuitBreaker::State::kOpen);
  uint64_t epoch = 0;
  CHECK(b.allow(t + 2100 * kMs, nullptr, &epoch));
  b.onSuccess(/*was_probe=*/true, epoch);
  CHECK(b.state(t + 2100 * kMs) == CircuitBreaker::State::kClosed);
  CHECK(b.timesOpened() == 2);
}

TEST_CASE("breaker: a late success of an attempt admitted before the trip does not close it, the probe's does") {
  CircuitBreaker b({2, 1000});
  uint64_t t = 10 * kMs;
  CHECK(b.allow(t));  // a slow attempt starts while the breaker is closed
  b.onFailure(t);
  b.onFailure(t);
  CHECK(b.state(t) == CircuitBreaker::State::kOpen);
  b.onSuccess();  // the slow attempt answers now
  CHECK(b.state(t + 500 * kMs) == CircuitBreaker::State::kOpen);
  CHECK_FALSE(b.allow(t + 500 * kMs));
  bool probe = false;
  uint64_t epoch = 0;
  CHECK(b.allow(t + 1000 * kMs, &probe, &epoch));
  CHECK(probe);
  b.onSuccess(probe, epoch);
  CHECK(b.state(t + 1000 * kMs) == CircuitBreaker::State::kClosed);

  // A probe out when another sidecar's trip arrives answers for the old period: it closes
  // nothing, not even once the next period's probe is out.
  b.onFailure(t + 1100 * kMs);
  b.onFailure(t + 1100 * kMs);
  uint64_t old_epoch = 0;
  CHECK(b.allow(t + 2100 * kMs, &probe, &old_epoch));
  CHECK(probe);
  b.openFor(t + 2200 * kMs, 1000);
  b.onSuccess(/*was_probe=*/true, old_epoch);
  CHECK(b.state(t + 2300 * kMs) == CircuitBreaker::State::kOpen);
  uint64_t new_epoch = 0;
  CHECK(b.allow(t + 3200 * kMs, &probe, &new_epoch));
  CHECK(probe);
  b.onSuccess(/*was_probe=*/true, old_epoch);  // the old probe, later still
  CHECK(b.state(t + 3200 * kMs) != CircuitBreaker::State::kClosed);
  b.onSuccess(/*was_probe=*/true, new_epoch);
  CHECK(b.state(t + 3200 * kMs) == CircuitBreaker::State::kClosed);
}

TEST_CASE("breaker: an abandoned probe frees the slot, threshold 0 never opens") {
  CircuitBreaker b({1, 100});
  b.onFailure(0);
  bool probe = false;
  uint64_t epoch = 0;
  CHECK(b.allow(100 * kMs, &probe, &epoch));
  b.onAbandon(epoch);
  CHECK(b.allow(100 * kMs));
  CircuitBreaker off({0, 100});
  for (int i = 0; i < 100; ++i) off.onFailure(0);
  CHECK(off.allow(0));
}

// A probe out when another trip came (a fleet's openFor) is abandoned later (its request
// cancelled): it must not free the newer probe's slot, or two probes run at once.
TEST_CASE("breaker: a stale probe's abandon does not free the current probe's slot") {
  CircuitBreaker b({1, 1000});
  b.onFailure(0);
  bool probe = false;
  uint64_t old_epoch = 0, new_epoch = 0;
  REQUIRE(b.allow(1000 * kMs, &probe, &old_epoch));
  REQUIRE(probe);
  b.openFor(1000 * kMs, 1000);
  REQUIRE(b.allow(2000 * kMs, &probe, &new_epoch));
  REQUIRE(probe);
  b.onAbandon(old_epoch);
  CHECK_FALSE(b.allow(2000 * kMs));  // the new probe is still out
  b.onAbandon(new_epoch);
  CHECK(b.allow(2000 * kMs));
}

TEST_CASE("planner: retries the same target with full-jitter backoff, then falls back in order") {
  Targets t;
  RoutePolicy p;
  p.retry.max_attempts = 3;
  p.retry.base_backoff_ms = 100;
  p.retry.max_backoff_ms = 250;
  AttemptPlanner plan(p, t.views(), 0, 42);
  Decision d = plan.first(0);
  REQUIRE(d.kind == Kind::kStart);
  CHECK(d.target == 0);
  d = plan.afterFailure(0, unavailable(), false);
  REQUIRE(d.kind == Kind::kStart);
  CHECK(d.target == 0);
  CHECK(d.delay_ms <= 100);
  CHECK(d.note.rfind("retry a/m attempt 2", 0) == 0);
  d = plan.afterFailure(0, unavailable(), false);
  CHECK(d.target == 0);
  CHECK(d.delay_ms <= 200);
  d = plan.afterFailure(0, unavailable(), false);
  REQUIRE(d.kind == Kind::kStart);
  CHECK(d.target == 1);
  CHECK(d.delay_ms == 0);
  CHECK(d.note.rfind("fallback a/m -> b/m", 0) == 0);
  CHECK(plan.counters().retries == 2);
  CHECK(plan.counters().fallbacks == 1);
}

TEST_CASE("planner: backoff stays within the exponential cap and uses the whole range") {
  Targets t;
  RoutePolicy p;
  p.retry.base_backoff_ms = 100;
  p.retry.max_backoff_ms = 1000;
  AttemptPlanner plan(p, t.views(), 0, 7);
  uint32_t max_seen = 0, min_seen = 100000;
  for (int i = 0; i < 2000; ++i) {
    uint32_t v = plan.backoffMs(3);  // cap 400
    max_seen = std::max(max_seen, v);
    min_seen = std::min(min_seen, v);
  }
  CHECK(max_seen <= 400);
  CHECK(max_seen > 350);
  CHECK(min_seen < 50);
  CHECK(plan.backoffMs(20) <= 1000);
}

TEST_CASE("planner: retry-after is honoured up to the cap, past it the next target is tried") {
  Targets t;
  RoutePolicy p;
  p.retry.max_attempts = 2;
  p.retry.max_retry_after_ms = 1000;
  AttemptPlanner plan(p, t.views(), 0, 1);
  plan.first(0);
  Decision d = plan.afterFailure(0, unavailable(800), false);
  CHECK(d.target == 0);
  CHECK(d.delay_ms >= 800);
  AttemptPlanner other(p, t.views(), 0, 1);
  other.first(0);
  d = other.afterFailure(0, unavailable(5000), false);
  CHECK(d.target == 1);
  CHECK(d.delay_ms == 0);
}

TEST_CASE("planner: no retry once a chunk reached the client, nor for a request's own fault") {
  Targets t;
  RoutePolicy p;
  p.retry.max_attempts = 3;
  AttemptPlanner plan(p, t.views(), 0, 1);
  plan.first(0);
  Decision d = plan.afterFailure(0, unavailable(), /*chunk_sent=*/true);
  CHECK(d.kind == Kind::kGiveUp);
  CHECK(d.note.find("chunk") != std::string::npos);
  AttemptPlanner bad(p, t.views(), 0, 1);
  bad.first(0);
  d = bad.afterFailure(0, {OUTRIGGER_CODE_INVALID_ARGUMENT, false, 0}, false);
  CHECK(d.kind == Kind::kGiveUp);
  // A target-specific refusal (quota, key) is not retried but does fall back.
  AttemptPlanner quota(p, t.views(), 0, 1);
  quota.first(0);
  d = quota.afterFailure(0, {OUTRIGGER_CODE_RESOURCE_EXHAUSTED, false, 0}, false);
  CHECK(d.kind == Kind::kStart);
  CHECK(d.target == 1);
}

TEST_CASE("planner: never starts an attempt that cannot finish before the deadline") {
  Targets t;
  RoutePolicy p;
  p.retry.max_attempts = 3;
  p.retry.min_attempt_ms = 50;
  uint64_t deadline = 1000 * kMs;
  AttemptPlanner plan(p, t.views(), deadline, 3);
  plan.first(0);
  // 400 ms of retry-after leaves 560 ms: fine.
  Decision d = plan.afterFailure(40 * kMs, unavailable(400), false);
  CHECK(d.kind == Kind::kStart);
  // At 960 ms nothing fits, not even an immediate fallback.
  d = plan.afterFailure(960 * kMs, unavailable(), false);
  CHECK(d.kind == Kind::kGiveUp);
  CHECK(d.note.find("deadline") != std::string::npos);
}

// The fallback target's rate token was taken before the deadline turned the fallback into a
// give-up, and never given back: a request that sent nothing used up a target's rpm.
namespace {

// Targets a, b, c on instances of their own, b with a rate limit of 2 a minute.
struct RateLimitedSecond : Targets {
  RpmBucket b_rpm;
  std::vector<TargetView> views = Targets::views();
  RateLimitedSecond() {
    b_rpm.setRate(2);
    views[1].rpm = &b_rpm;
    views[0].instance = &a;
    views[1].instance = &b;
    views[2].instance = &c;
  }
};

}  // namespace

TEST_CASE("planner: a fallback the deadline turns into a give-up keeps no rate token of its target") {
  RateLimitedSecond t;
  RpmBucket& b_rpm = t.b_rpm;
  const std::vector<TargetView>& views = t.views;
  RoutePolicy p;
  p.retry.max_attempts = 1;  // a failure falls back at once
  p.retry.min_attempt_ms = 50;
  AttemptPlanner plan(p, views, 1000 * kMs, 3);
  REQUIRE(plan.first(0).kind == Kind::kStart);
  const double before = b_rpm.tokens();
  Decision d = plan.afterFailure(960 * kMs, unavailable(), false);
  CHECK(d.kind == Kind::kGiveUp);
  CHECK(b_rpm.tokens() == Approx(before).margin(0.05));
}

TEST_CASE("planner: a hedge whose start failed gives its target's rate token back") {
  RateLimitedSecond t;
  RpmBucket& b_rpm = t.b_rpm;
  const std::vector<TargetView>& views = t.views;
  RoutePolicy p;
  AttemptPlanner plan(p, views, 0, 3);
  REQUIRE(plan.first(0).kind == Kind::kStart);
  plan.started();
  const double before = b_rpm.tokens();
  REQUIRE(plan.hedge(10 * kMs).kind == Kind::kStart);
  CHECK(b_rpm.tokens() == Approx(before - 1).margin(0.05));
  plan.hedgeNotStarted(10 * kMs);
  CHECK(b_rpm.tokens() == Approx(before).margin(0.05));
}

TEST_CASE("planner: open breakers are skipped, all open gives up with when to come back") {
  Targets t({1, 1000});
  t.a.onFailure(0);
  RoutePolicy p;
  AttemptPlanner plan(p, t.views(), 0, 1);
  Decision d = plan.first(10 * kMs);
  CHECK(d.target == 1);
  CHECK(d.note.find("skipped: a/m (breaker open)") != std::string::npos);
  t.b.onFailure(0);
  t.c.onFailure(0);
  AttemptPlanner none(p, t.views(), 0, 1);
  d = none.first(10 * kMs);
  CHECK(d.kind == Kind::kGiveUp);
  CHECK(d.retry_after_ms == 990);
}

TEST_CASE("planner: weighted routing splits first attempts by weight, seeded") {
  CircuitBreaker a, b;
  RoutePolicy p;
  p.strategy = Strategy::kWeighted;
  std::map<size_t, int> firsts;
  for (uint64_t seed = 0; seed < 4000; ++seed) {
    AttemptPlanner plan(p, {{"a/m", 3, &a}, {"b/m", 1, &b}}, 0, seed);
    firsts[plan.first(0).target]++;
  }
  CHECK(firsts[0] > 2800);
  CHECK(firsts[0] < 3200);
  // The other target stays the fallback.
  AttemptPlanner plan(p, {{"a/m", 0, &a}, {"b/m", 1, &b}}, 0, 9);
  CHECK(plan.first(0).target == 1);
  CHECK(plan.afterFailure(0, unavailable(), false).target == 0);
}

TEST_CASE("config: route targets, strategy, retry and breaker parse strictly with file:line errors") {
  auto ok = outrigger::config::parseConfig(R"(
[instances.a]
type = "provider.mock"
[instances.b]
type = "provider.mock"
[routes.main]
strategy = "weighted"
targets = [{ provider = "a", model = "m1", weight = 9 }, { provider = "b" }]
retry = { max_attempts = 3, base_backoff_ms = 20, max_backoff_ms = 400 }
breaker = { failure_threshold = 4, open_ms = 1500 }
)", "t.toml", "/");
  REQUIRE(ok.ok());
  const auto& r = ok.value().routes[0];
  REQUIRE(r.targets.size() == 2);
  CHECK(r.targets[0].weight == 9);
  CHECK(r.targets[0].model == "m1");
  CHECK(r.provider == "a");
  CHECK(r.policy.strategy == Strategy::kWeighted);
  CHECK(r.policy.retry.max_attempts == 3);
  CHECK(r.policy.breaker.open_ms == 1500);

  auto bad_key = outrigger::config::parseConfig(
      "[instances.a]\ntype = \"provider.mock\"\n[routes.main]\nprovider = \"a\"\nretry = { attempts = 3 }\n", "t.toml", "/");
  REQUIRE_FALSE(bad_key.ok());
  CHECK(bad_key.status().message().find("t.toml:5") != std::string::npos);
  CHECK(bad_key.status().message().find("attempts") != std::string::npos);
  auto both = outrigger::config::parseConfig(
      "[instances.a]\ntype = \"provider.mock\"\n[routes.main]\nprovider = \"a\"\ntargets = [{provider = \"a\"}]\n", "t.toml",
      "/");
  CHECK_FALSE(both.ok());
  auto unknown = outrigger::config::parseConfig(
      "[instances.a]\ntype = \"provider.mock\"\n[routes.main]\ntargets = [{provider = \"zz\"}]\n", "t.toml", "/");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().message().find("zz") != std::string::npos);
}

TEST_CASE("config examples: OpenAI with Anthropic fallback, local models and A-B split parse") {
  ::setenv("OPENAI_API_KEY", "sk-example", 1);
  ::setenv("ANTHROPIC_API_KEY", "sk-ant-example", 1);
  struct Example {
    const char* file;
    size_t targets;
    Strategy strategy;
  };
  for (const Example& e : {Example{"openai_anthropic_fallback.toml", 2, Strategy::kFallback},
                           Example{"local_models.toml", 2, Strategy::kFallback},
                           Example{"ab_split.toml", 2, Strategy::kWeighted}}) {
    auto s = outrigger::config::loadConfigFile(std::string(OUTRIGGER_SOURCE_DIR) + "/config/" + e.file);
    INFO(e.file);
    REQUIRE(s.ok());
    REQUIRE(s.value().routes.size() == 1);
    CHECK(s.value().routes[0].targets.size() == e.targets);
    CHECK(s.value().routes[0].policy.strategy == e.strategy);
  }
}

TEST_CASE("planner: lowest latency tries unmeasured targets first, then the fastest") {
  CircuitBreaker a, b, c;
  RoutePolicy p;
  p.strategy = Strategy::kLowestLatency;
  AttemptPlanner plan(p, {{"a/m", 1, &a, 80.0, nullptr}, {"b/m", 1, &b, 20.0, nullptr}, {"c/m", 1, &c, -1, nullptr}},
                      0, 1);
  Decision d = plan.first(0);
  CHECK(d.target == 2);
  CHECK(d.note.find("lowest latency") != std::string::npos);
  CHECK(plan.afterFailure(0, unavailable(), false).target == 1);
  CHECK(plan.afterFailure(0, unavailable(), false).target == 0);
  LatencyEwma e;
  e.add(100);
  e.add(200);
  CHECK(e.ms() == Approx(120));
}

TEST_CASE("planner: an empty retry budget turns a retry into a fallback") {
  CircuitBreaker a, b;
  RetryBudget budget;
  budget.setRatio(0.1);
  while (budget.withdraw()) {
  }  // spend the reserve
  RoutePolicy p;
  p.retry.max_attempts = 3;
  AttemptPlanner plan(p, {{"a/m", 1, &a, -1, &budget}, {"b/m", 1, &b, -1, nullptr}}, 0, 1);
  plan.first(0);  // deposits 0.1: still below one token
  Decision d = plan.afterFailure(0, unavailable(), false);
  CHECK(d.target == 1);
  CHECK(d.note.find("retry budget of a/m exhausted") != std::string::npos);
  CHECK(plan.counters().budget_denials == 1);
  RetryBudget unlimited;
  CHECK(unlimited.withdraw());
}

TEST_CASE("config: lowest_latency strategy and a retry budget parse, a bad strategy names its line") {
  auto ok = outrigger::config::parseConfig(
      "[instances.a]\ntype = \"provider.mock\"\n[routes.main]\nstrategy = \"lowest_latency\"\n"
      "targets = [{ provider = \"a\" }]\nretry = { budget_percent = 20 }\n", "t.toml", "/");
  REQUIRE(ok.ok());
  CHECK(ok.value().routes[0].policy.strategy == Strategy::kLowestLatency);
  CHECK(ok.value().routes[0].policy.retry.budget_ratio == Approx(0.2));
  auto bad = outrigger::config::parseConfig(
      "[instances.a]\ntype = \"provider.mock\"\n[routes.main]\nprovider = \"a\"\nstrategy = \"fastest\"\n", "t.toml", "/");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("t.toml:5") != std::string::npos);
}

TEST_CASE("planner: a target at its concurrency limit is skipped, all at the limit is RESOURCE_EXHAUSTED") {
  CircuitBreaker a, b;
  std::atomic<uint32_t> busy_a{2}, busy_b{0};
  RoutePolicy p;
  AttemptPlanner plan(p, {{"a/m", 1, &a, -1, nullptr, &busy_a, 2}, {"b/m", 1, &b, -1, nullptr, &busy_b, 1}}, 0, 1);
  Decision d = plan.first(0);
  CHECK(d.target == 1);
  CHECK(d.note.find("a/m (at its concurrency limit)") != std::string::npos);
  busy_b = 1;
  AttemptPlanner full(p, {{"a/m", 1, &a, -1, nullptr, &busy_a, 2}, {"b/m", 1, &b, -1, nullptr, &busy_b, 1}}, 0, 1);
  d = full.first(0);
  CHECK(d.kind == Kind::kGiveUp);
  CHECK(d.at_limit);
}

TEST_CASE("rate limits: an RPM bucket refills continuously, a target over it is skipped") {
  RpmBucket b;
  b.setRate(60);  // one per second
  uint64_t t = 1000 * kMs;
  for (int i = 0; i < 60; ++i) REQUIRE(b.take(t));
  CHECK_FALSE(b.take(t));
  CHECK(b.waitMs(t) > 900);
  CHECK(b.take(t + 1001 * kMs));

  CircuitBreaker a, c;
  RpmBucket full, open;
  full.setRate(1);
  REQUIRE(full.take(0));
  open.setRate(100);
  RoutePolicy p;
  AttemptPlanner plan(p, {{"a/m", 1, &a, -1, nullptr, nullptr, 0, &full}, {"c/m", 1, &c, -1, nullptr, nullptr, 0, &open}},
                      0, 1);
  Decision d = plan.first(1 * kMs);
  CHECK(d.target == 1);
  CHECK(d.note.find("a/m (over its rate limit)") != std::string::npos);
  AttemptPlanner only(p, {{"a/m", 1, &a, -1, nullptr, nullptr, 0, &full}}, 0, 1);
  d = only.first(1 * kMs);
  CHECK(d.kind == Kind::kGiveUp);
  CHECK(d.at_limit);
  CHECK(d.retry_after_ms > 50000);
}

TEST_CASE("breaker: opens on the error rate over its window even without a failure streak") {
  BreakerPolicy p;
  p.failure_threshold = 0;
  p.error_rate_percent = 50;
  p.window = 10;
  p.open_ms = 100;
  CircuitBreaker b(p);
  for (int i = 0; i < 4; ++i) {
    b.onFailure(0);
    b.onSuccess();
  }
  CHECK(b.state(0) == CircuitBreaker::State::kClosed);  // 4 of 8: the window is not full yet
  b.onSuccess();
  b.onFailure(0);  // 5 of 10 failed
  CHECK(b.state(0) == CircuitBreaker::State::kOpen);
  uint64_t epoch = 0;
  CHECK(b.allow(100 * kMs, nullptr, &epoch));
  b.onSuccess(/*was_probe=*/true, epoch);
  CHECK(b.state(100 * kMs) == CircuitBreaker::State::kClosed);
  b.onFailure(100 * kMs);  // the window restarted: one failure does not re-open it
  CHECK(b.state(100 * kMs) == CircuitBreaker::State::kClosed);
}

TEST_CASE("rate limits: a token-per-minute debt blocks the target until it is refilled") {
  RpmBucket tpm;
  tpm.setRate(600);  // ten tokens a second
  tpm.charge(0, 590);
  CHECK(tpm.waitMs(0) == 0);  // 10 left: still admitted
  tpm.charge(0, 30);          // 20 in debt
  CHECK(tpm.waitMs(0) > 2000);
  CHECK(tpm.waitMs(2200 * kMs) == 0);
  CircuitBreaker a, b;
  RoutePolicy p;
  RpmBucket owed;
  owed.setRate(60);
  owed.charge(0, 100);
  AttemptPlanner plan(p, {{"a/m", 1, &a, -1, nullptr, nullptr, 0, nullptr, &owed}, {"b/m", 1, &b}}, 0, 1);
  Decision d = plan.first(0);
  CHECK(d.target == 1);
  CHECK(d.note.find("a/m (over its token limit)") != std::string::npos);
}

TEST_CASE("rate limits: a token estimate waits for that many tokens, a refund never overfills the bucket") {
  RpmBucket tpm;
  tpm.setRate(600);  // ten tokens a second
  tpm.charge(0, 550);
  CHECK(tpm.waitMs(0, 40) == 0);
  CHECK(tpm.waitMs(0, 80) > 2900);           // 30 more needed at 10 a second
  CHECK(tpm.waitMs(3100 * kMs, 80) == 0);
  CHECK(tpm.waitMs(0, 5000) > 0);            // a need above the bucket waits for a full one ...
  CHECK(tpm.waitMs(60000 * kMs, 5000) == 0);  // ... and is then admitted
  tpm.charge(60000 * kMs, -1000);            // a refund
  CHECK(tpm.tokens() == Approx(600));
  CircuitBreaker a, b;
  RpmBucket small;
  small.setRate(100);
  small.charge(0, 50);  // 50 left
  AttemptPlanner plan(RoutePolicy{}, {{"a/m", 1, &a, -1, nullptr, nullptr, 0, nullptr, &small, nullptr, 75}, {"b/m", 1, &b}},
                      0, 1);
  Decision d = plan.first(0);
  CHECK(d.target == 1);  // 50 tokens do not fit a 75-token prompt
  AttemptPlanner fits(RoutePolicy{}, {{"a/m", 1, &a, -1, nullptr, nullptr, 0, nullptr, &small, nullptr, 40}, {"b/m", 1, &b}},
                      0, 1);
  CHECK(fits.first(0).target == 0);
  AttemptPlanner grew(RoutePolicy{}, {{"a/m", 1, &a, -1, nullptr, nullptr, 0, nullptr, &small, nullptr, 40}, {"b/m", 1, &b}},
                      0, 1);
  grew.setTokenNeed(0, 75);  // a re-ask's longer prompt
  CHECK(grew.first(0).target == 1);
}

TEST_CASE("planner: a hedge goes to the next admitted target of another instance with a closed breaker") {
  int inst_a = 0, inst_b = 0;
  CircuitBreaker a, a2, b({1, 1000});
  std::vector<TargetView> views = {{"a/m1", 1, &a}, {"a/m2", 1, &a2}, {"b/m", 1, &b}};
  views[0].instance = views[1].instance = &inst_a;
  views[2].instance = &inst_b;
  AttemptPlanner plan(RoutePolicy{}, views, 0, 1);
  CHECK(plan.hedge(0).kind == Kind::kGiveUp);  // nothing running yet
  Decision d = plan.first(0);
  REQUIRE(d.target == 0);
  plan.started();
  Decision h = plan.hedge(0);
  REQUIRE(h.kind == Kind::kStart);
  CHECK(h.target == 2);  // a/m2 is the same plugin instance as the running attempt
  CHECK(h.note == "hedge a/m1 -> b/m (no answer yet)");
  CHECK(plan.hedge(0).kind == Kind::kGiveUp);  // one hedge per request
  CHECK(plan.counters().hedges == 1);
  // The hedge failed and opened b's breaker; the first attempt then fails too: nothing is left
  // after the hedge's place in the order.
  plan.hedgeFailed(0, unavailable());
  CHECK(b.state(0) == CircuitBreaker::State::kOpen);
  Decision after = plan.afterFailure(0, unavailable(), false);
  CHECK(after.kind == Kind::kGiveUp);

  CircuitBreaker open_b({1, 1000});
  open_b.onFailure(0);
  std::vector<TargetView> with_open = {{"a/m1", 1, &a}, {"b/m", 1, &open_b}};
  with_open[0].instance = &inst_a;
  with_open[1].instance = &inst_b;
  AttemptPlanner no_probe(RoutePolicy{}, with_open, 0, 1);
  no_probe.first(0);
  no_probe.started();
  CHECK(no_probe.hedge(2000 * kMs).kind == Kind::kGiveUp);  // half-open: a hedge never takes the probe
}

TEST_CASE("planner: the current attempt failing while hedged hands over to the hedge, and so does a hedge that wins") {
  int inst_a = 0, inst_b = 0, inst_c = 0;
  CircuitBreaker a({1, 1000}), b, c;
  std::vector<TargetView> views = {{"a/m", 1, &a}, {"b/m", 1, &b}, {"c/m", 1, &c}};
  views[0].instance = &inst_a;
  views[1].instance = &inst_b;
  views[2].instance = &inst_c;
  AttemptPlanner plan(RoutePolicy{}, views, 0, 1);
  plan.first(0);
  plan.started();
  REQUIRE(plan.hedge(0).target == 1);
  plan.currentFailedWhileHedged(0, unavailable());
  CHECK(a.state(0) == CircuitBreaker::State::kOpen);
  CHECK(plan.current() == 1);
  Decision next = plan.afterFailure(0, unavailable(), false);  // the hedge failed as well
  REQUIRE(next.kind == Kind::kStart);
  CHECK(next.target == 2);

  AttemptPlanner won(RoutePolicy{}, views, 0, 1);
  won.first(2000 * kMs);
  won.started();
  REQUIRE(won.hedge(2000 * kMs).target == 1);
  won.hedgeWon();
  CHECK(won.current() == 1);
}

TEST_CASE("config: tenant_tpm, limits and hedge parse strictly with file:line errors") {
  auto ok = outrigger::config::parseConfig(
      "[instances.a]\ntype = \"provider.mock\"\n[routes.main]\nprovider = \"a\"\ntenant_tpm = 5000\n"
      "limits = { on_limit = \"queue\", queue_max = 8, queue_timeout_ms = 250 }\nhedge = { delay_ms = 300 }\n",
      "t.toml", "/");
  REQUIRE(ok.ok());
  const RoutePolicy& p = ok.value().routes[0].policy;
  CHECK(ok.value().routes[0].tenant_tpm == 5000);
  // The route's tenant limits are an instance of the default limiter, asked first.
  REQUIRE(ok.value().routes[0].limiters == std::vector<std::string>{"main.tenant_limits"});
  const auto& instances = ok.value().instances;
  auto limiter = std::find_if(instances.begin(), instances.end(), [](const auto& i) { return i.name == "main.tenant_limits"; });
  REQUIRE(limiter != instances.end());
  CHECK(limiter->kind == "limiter");
  CHECK(limiter->type == "memory");
  CHECK(limiter->config_json == R"({"key":"tenant","rpm":0,"tpm":5000})");
  CHECK(p.limits.queue);
  CHECK(p.limits.queue_max == 8);
  CHECK(p.limits.queue_timeout_ms == 250);
  CHECK(p.hedge.delay_ms == 300);
  auto defaults = outrigger::config::parseConfig("[instances.a]\ntype = \"provider.mock\"\n[routes.main]\nprovider = \"a\"\n",
                                                 "t.toml", "/");
  REQUIRE(defaults.ok());
  CHECK_FALSE(defaults.value().routes[0].policy.limits.queue);  // fail fast unless asked
  CHECK(defaults.value().routes[0].policy.hedge.delay_ms == 0);

  struct Bad {
    const char* route_line;
    const char* says;
  };
  for (Bad bad : {Bad{"limits = { on_limit = \"wait\" }", "'on_limit'"}, Bad{"limits = { queue_max = 0 }", "queue_max"},
                  Bad{"limits = { queue_size = 3 }", "queue_size"}, Bad{"hedge = { delay_ms = 0 }", "delay_ms"},
                  Bad{"hedge = { max = 1 }", "max"}, Bad{"tenant_tpm = -1", "tenant_tpm"}}) {
    auto r = outrigger::config::parseConfig(std::string("[instances.a]\ntype = \"provider.mock\"\n[routes.main]\n"
                                                        "provider = \"a\"\n") + bad.route_line + "\n", "t.toml", "/");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("t.toml:5") != std::string::npos);
    CHECK(r.status().message().find(bad.says) != std::string::npos);
  }
  auto missing_ca = outrigger::config::parseConfig(
      "[server]\nupstream_ca_file = \"/nonexistent/ca.pem\"\n[instances.a]\ntype = \"provider.mock\"\n"
      "[routes.main]\nprovider = \"a\"\n", "t.toml", "/");
  REQUIRE_FALSE(missing_ca.ok());
  CHECK(missing_ca.status().message().find("t.toml:2") != std::string::npos);
}
