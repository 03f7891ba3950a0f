// A circuit breaker for one upstream target on one worker (no locks: each worker keeps its own,
// so N workers open independently after N x threshold failures at worst).
//
// closed --(threshold consecutive failures, or error rate over the window)--> open --(open_ms)--> half-open
// half-open admits one probe at a time: success closes, failure re-opens for open_ms.
// Times are monotonic nanoseconds passed in, so tests drive it with a fake clock.
#pragma once

#include <cstdint>
#include <deque>

#include "resilience/policy.h"

namespace outrigger::resilience {

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  explicit CircuitBreaker(BreakerPolicy policy = {}) : policy_(policy) {}

  // May an attempt start now? In half-open this takes the single probe slot (true once until
  // the probe reports through onSuccess, onFailure or onAbandon).
  bool allow(uint64_t now_ns);
  void onSuccess();
  void onFailure(uint64_t now_ns);
  // An admitted attempt ended without a verdict (request cancelled): frees the probe slot.
  void onAbandon();

  State state(uint64_t now_ns) const;
  // Time until a probe may go, 0 unless open.
  uint32_t openRemainingMs(uint64_t now_ns) const;
  uint64_t timesOpened() const { return opened_; }
  void setPolicy(const BreakerPolicy& p) { policy_ = p; }

 private:
  void record(bool failed);
  bool overErrorRate() const;
  void trip(uint64_t now_ns);

  BreakerPolicy policy_;
  std::deque<bool> window_;  // the last results, true = failure (bounded by policy_.window)
  uint32_t window_failures_ = 0;
  uint32_t consecutive_failures_ = 0;
  bool open_ = false;
  uint64_t open_until_ns_ = 0;
  bool probing_ = false;
  uint64_t opened_ = 0;
};

const char* stateName(CircuitBreaker::State s);

}  // namespace outrigger::resilience
