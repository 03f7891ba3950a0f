// Decides, for one request, which target each provider attempt goes to and when: the first
// target by strategy, retries with exponential backoff and full jitter (honouring the
// upstream's retry-after up to a cap), fallback to the next target, skipping targets whose
// breaker is open, never starting an attempt that cannot finish before the deadline and never
// retrying once a chunk reached the client. Plugins only classify failures; this decides.
//
// Every decision comes with a one-line note for the request's spans. Pure logic: times are
// passed in and randomness comes from a seed, so tests replay decisions exactly. One planner per
// request, on its worker's thread; the targets' records it points to are shared by every worker
// and guard themselves, and a rate token is taken in the same step that finds it there.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <outrigger/plugin.h>

#include "resilience/circuit_breaker.h"
#include "resilience/policy.h"
#include "resilience/target_health.h"

namespace outrigger::resilience {

struct TargetView {
  std::string key;                // "instance/model": names the target in notes and the registry
  uint32_t weight = 1;
  CircuitBreaker* breaker = nullptr;  // owned by the process's HealthRegistry; nullptr: none
  double latency_ms = -1;         // latency average, -1 when not measured yet
  RetryBudget* budget = nullptr;  // nullptr: unlimited
  const std::atomic<uint32_t>* in_flight = nullptr;  // attempts running on the target (every worker)
  uint32_t max_concurrent = 0;                       // 0: unlimited
  RpmBucket* rpm = nullptr;             // requests-per-minute limit; nullptr: none
  RpmBucket* tpm = nullptr;             // tokens-per-minute limit; nullptr: none
  const void* instance = nullptr;       // the provider instance: a hedge never goes to the same one
  double token_need = 1;                // the prompt's tokens as the target's model counts them:
                                        // its tpm bucket must hold this many (or be full)
};

// How an attempt failed, as the provider classified it.
struct AttemptFailure {
  outrigger_code code = OUTRIGGER_CODE_UNAVAILABLE;
  bool retryable = false;
  uint32_t retry_after_ms = 0;
};

struct Decision {
  enum class Kind { kStart, kGiveUp };
  Kind kind = Kind::kGiveUp;
  size_t target = 0;            // kStart: index into the route's targets
  uint32_t delay_ms = 0;        // kStart: wait this long first (backoff)
  uint32_t retry_after_ms = 0;  // kGiveUp with no target: when one may be available again
  bool at_limit = false;        // kGiveUp: some target was skipped for its concurrency limit
  std::string note;             // for the span: what was decided and why
};

struct PlannerCounters {
  uint32_t attempts = 0;
  uint32_t retries = 0;
  uint32_t fallbacks = 0;
  uint32_t breaker_skips = 0;
  uint32_t budget_denials = 0;
  uint32_t limit_skips = 0;
  uint32_t rate_skips = 0;
  uint32_t hedges = 0;
};

// A tiny seeded generator for jitter and weighted draws. One planner is built per request, so
// seeding must cost nothing (std::mt19937_64 initialises 2.5 KB of state per seed).
class SplitMix64 {
 public:
  using result_type = uint64_t;
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

class AttemptPlanner {
 public:
  AttemptPlanner(RoutePolicy policy, std::vector<TargetView> targets, uint64_t deadline_ns, uint64_t seed);

  // The first attempt. kGiveUp when every target's breaker is open.
  Decision first(uint64_t now_ns);
  // The current attempt failed. `chunk_sent`: part of the answer already reached the client.
  Decision afterFailure(uint64_t now_ns, const AttemptFailure& failure, bool chunk_sent);
  void succeeded();
  // The current attempt's first chunk: the target answers. A half-open breaker's probe gives its
  // verdict now, not when the stream ends (minutes later, every other request refused meanwhile).
  void streamStarted();
  // The request ended while an attempt was in flight or waiting: releases a held probe.
  void abandoned();
  // A decided kStart attempt actually starts now.
  void started() { ++counters_.attempts; in_flight_ = true; }
  // The current attempt never reached its upstream (its provider could not start it): the request
  // token admitting it took from the target's rpm goes back.
  void refundCurrent(uint64_t now_ns) { refundRequest(targets_[current()], now_ns); }
  // What an attempt on target `index` charges its tpm bucket up front.
  double tokenNeed(size_t index) const { return index < targets_.size() ? targets_[index].token_need : 1; }
  // Target `index`'s prompt grew (a re-ask): its tpm bucket must hold `tokens` from now on.
  void setTokenNeed(size_t index, double tokens) {
    if (index < targets_.size()) targets_[index].token_need = tokens < 1 ? 1 : tokens;
  }
  // Hedging (unary calls): a second attempt while the current one is still running, on the next
  // admitted target of another provider instance whose breaker is closed. kGiveUp when none.
  Decision hedge(uint64_t now_ns);
  // The hedge failed while the current attempt goes on: its breaker learns of it.
  void hedgeFailed(uint64_t now_ns, const AttemptFailure& failure);
  // The hedge's start hook failed: nothing was sent, so its rate token goes back.
  void hedgeNotStarted(uint64_t now_ns);
  // The current attempt failed while the hedge goes on: the hedge becomes the current attempt.
  void currentFailedWhileHedged(uint64_t now_ns, const AttemptFailure& failure);
  // The hedge answered first; the current attempt is cancelled and the hedge takes its place.
  void hedgeWon();

  const PlannerCounters& counters() const { return counters_; }
  size_t current() const { return order_.empty() ? 0 : order_[pos_]; }

  // Full-jitter backoff before retry number `retry` (1-based), exposed for tests.
  uint32_t backoffMs(uint32_t retry);

 private:
  // The next admitted target at or after order position `from`; false when none.
  bool admit(size_t from, uint64_t now_ns, size_t* pos, std::string* skipped);
  bool fits(uint64_t now_ns, uint32_t delay_ms) const;
  bool atConcurrencyLimit(const TargetView& t) const;
  // Gives back the request token admit() took from `t` when the attempt does not go after all.
  void refundRequest(const TargetView& t, uint64_t now_ns);
  // Asks `t`'s breaker for admission, remembering whether that took its half-open probe slot.
  bool take(const TargetView& t, uint64_t now_ns);
  // Gives back a probe slot this request holds on `t` without a verdict.
  void release(const TargetView& t);
  uint32_t soonestReopenMs(uint64_t now_ns) const;

  RoutePolicy policy_;
  std::vector<TargetView> targets_;
  std::vector<size_t> order_;  // target indices in trial order
  size_t pos_ = 0;             // position in order_ of the current target
  uint32_t tries_here_ = 0;    // attempts on the current target
  uint64_t deadline_ns_;
  SplitMix64 rng_;
  bool in_flight_ = false;
  bool holds_probe_ = false;
  uint64_t probe_epoch_ = 0;  // the open period of the probe it holds (CircuitBreaker::allow)
  size_t hedge_pos_ = 0;      // position in order_ of the hedge target; 0: no hedge yet
  PlannerCounters counters_;
};

}  // namespace outrigger::resilience
