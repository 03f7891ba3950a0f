// A circuit breaker for one upstream target, shared by every worker: the failures any worker
// sees count towards one state. Each call takes a short mutex of this breaker's own ([any]).
//
// closed --(threshold consecutive failures, or error rate over the window)--> open --(open_ms)--> half-open
// half-open admits one probe at a time: success closes, failure re-opens for open_ms.
// Times are monotonic nanoseconds passed in, so tests drive it with a fake clock.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "resilience/policy.h"

namespace outrigger::resilience {

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  explicit CircuitBreaker(BreakerPolicy policy = {}) : policy_(policy) {}

  // May an attempt start now? In half-open this takes the single probe slot (true once until
  // the probe reports through onSuccess, onFailure or onAbandon); `*took_probe` says whether it
  // did, decided in the same step so another thread cannot move the state in between.
  // `*probe_epoch` names the open period the probe belongs to, for onSuccess.
  bool allow(uint64_t now_ns, bool* took_probe = nullptr, uint64_t* probe_epoch = nullptr);
  // `was_probe`: the attempt held the half-open probe (allow's *took_probe), of `probe_epoch`.
  // Only the current open period's probe closes an open breaker: an attempt admitted before the
  // trip that answers late (a slow request, a long stream), or a probe out when another trip
  // came, says nothing about the target now.
  void onSuccess(bool was_probe = false, uint64_t probe_epoch = 0);
  void onFailure(uint64_t now_ns);
  // The probe of `probe_epoch` ended without a verdict (request cancelled, a 429): frees the
  // probe slot, unless another trip came since and a newer probe holds it.
  void onAbandon(uint64_t probe_epoch);
  // A trip seen elsewhere (another sidecar of a fleet): open until `open_ms` from now, unless
  // already open longer; then half-open as after any trip. Not counted in timesOpened.
  void openFor(uint64_t now_ns, uint32_t open_ms);

  State state(uint64_t now_ns) const;
  // Time until a probe may go, 0 unless open.
  uint32_t openRemainingMs(uint64_t now_ns) const;
  // Trips by this process's own failures (openFor is not one).
  uint64_t timesOpened() const;
  // The breaker is open because of this process's own failures, not openFor.
  bool openedHere() const;
  void setPolicy(const BreakerPolicy& p);

 private:
  State stateLocked(uint64_t now_ns) const;
  void record(bool failed);
  bool overErrorRate() const;
  void trip(uint64_t now_ns);

  mutable std::mutex mu_;  // guards everything below
  BreakerPolicy policy_;
  std::deque<bool> window_;  // the last results, true = failure (bounded by policy_.window)
  uint32_t window_failures_ = 0;
  uint32_t consecutive_failures_ = 0;
  bool open_ = false;
  uint64_t open_until_ns_ = 0;
  bool probing_ = false;
  uint64_t trips_ = 0;  // trips and openFor calls: which open period a probe belongs to
  uint64_t opened_ = 0;
  bool opened_here_ = false;
};

const char* stateName(CircuitBreaker::State s);

}  // namespace outrigger::resilience
