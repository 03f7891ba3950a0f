// What a route's resilience settings mean once parsed: how targets are ordered, how often and
// how patiently a target is retried, and when a target's circuit breaker opens.
#pragma once

#include <cstdint>

namespace outrigger::resilience {

enum class Strategy {
  kFallback,  // targets in the listed order; the next one when a target gives up
  kWeighted,  // the first target drawn by weight (A-B split); then fallback in listed order
  kLowestLatency,  // targets by their latency average, unmeasured first; fallback in that order
};

struct RetryPolicy {
  uint32_t max_attempts = 1;          // attempts per target (1: no retry on the same target)
  uint32_t base_backoff_ms = 100;     // full jitter: uniform in [0, min(max, base * 2^retry)]
  uint32_t max_backoff_ms = 2000;
  uint32_t max_retry_after_ms = 10000;  // a longer upstream retry-after moves on to the next target
  uint32_t min_attempt_ms = 50;       // an attempt that cannot get this long before the deadline is not started
  double budget_ratio = 0;            // retry budget: retries per first attempt a target may see; 0: unlimited
};

struct BreakerPolicy {
  uint32_t failure_threshold = 0;  // consecutive failures that open the breaker; 0 (default): never
  uint32_t open_ms = 30000;        // open time before one half-open probe is let through
  uint32_t error_rate_percent = 0; // also opens when this share of the last `window` results failed; 0: off
  uint32_t window = 20;            // results in the error-rate window (and the minimum before it applies)
};

// What a request does when every target (or its tenant) is over a rate or concurrency limit.
struct LimitPolicy {
  bool queue = false;             // false: fail fast; true: wait in the route's bounded queue
  uint32_t queue_max = 100;       // waiting requests per route and worker; one more fails fast
  uint32_t queue_timeout_ms = 5000;  // longest wait (never past the request's deadline)
};

// A second attempt for a unary call whose first attempt is slow.
struct HedgePolicy {
  uint32_t delay_ms = 0;  // start the hedge after this long without an answer; 0: never hedge
};

struct RoutePolicy {
  Strategy strategy = Strategy::kFallback;
  RetryPolicy retry;
  BreakerPolicy breaker;
  LimitPolicy limits;
  HedgePolicy hedge;
};

// A route that asks for a breaker at all; one without neither consults nor feeds its targets'.
inline bool hasBreaker(const BreakerPolicy& b) { return b.failure_threshold != 0 || b.error_rate_percent != 0; }

// What every route naming a target shares for it: one breaker and one retry budget, as the
// upstream's health is its own and not a route's. The chain merges the routes' settings into
// one (the strictest wins), so which route's request comes next never changes them.
struct TargetPolicy {
  BreakerPolicy breaker;
  double retry_budget_ratio = 0;
};
inline TargetPolicy targetPolicyOf(const RoutePolicy& p) { return {p.breaker, p.retry.budget_ratio}; }

}  // namespace outrigger::resilience
