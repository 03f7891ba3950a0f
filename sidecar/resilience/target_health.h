// What the process knows about each upstream target: its circuit breaker, a latency average for
// lowest-latency routing, its retry budget, its rate buckets and the attempts it has in flight
// (per-tenant limits are the limiter.memory plugin's). Keyed by "instance/model"; survives config reloads so a target
// keeps its history across chain snapshots.
//
// One registry serves every worker, so limits hold for the whole process rather than per worker.
// Thread: everything here is [any]. Each record guards itself (a short mutex per bucket and per
// breaker, atomics for the rest), so workers contend only when they use the same target or
// tenant at the same instant; no lock is held across calls out of this file.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "resilience/circuit_breaker.h"
#include "resilience/policy.h"
#include "resilience/rate_bucket.h"
#include "resilience/upstream_identity.h"

namespace outrigger::resilience {

// Exponentially weighted moving average of successful attempt latency. Lock-free: a sample
// added by two threads at once is folded in by both, one after the other.
class LatencyEwma {
 public:
  void add(double ms) {
    double old = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(old, old < 0 ? ms : old + kAlpha * (ms - old), std::memory_order_relaxed)) {
    }
  }
  bool seen() const { return value_.load(std::memory_order_relaxed) >= 0; }
  double ms() const { return std::max(value_.load(std::memory_order_relaxed), 0.0); }

 private:
  static constexpr double kAlpha = 0.2;
  std::atomic<double> value_{-1};  // -1: no sample yet (a latency is never negative)
};

// A retry budget (Finagle style): every first attempt deposits `ratio` tokens, every retry of
// the target withdraws one; retries stop while the bucket is empty, so retries can add at most
// about `ratio` x the request rate (plus the initial reserve) to an upstream that is failing.
// Lock-free: deposits and withdrawals from several threads never lose or double-spend a token.
class RetryBudget {
 public:
  void setRatio(double ratio) { ratio_.store(ratio, std::memory_order_relaxed); }
  void deposit() {
    double ratio = ratio_.load(std::memory_order_relaxed);
    if (ratio <= 0) return;
    double t = tokens_.load(std::memory_order_relaxed);
    while (t < kCap && !tokens_.compare_exchange_weak(t, t + ratio, std::memory_order_relaxed)) {
    }
  }
  // True (and one token spent) when a retry may go; always true with no budget configured.
  bool withdraw() {
    if (ratio_.load(std::memory_order_relaxed) <= 0) return true;
    double t = tokens_.load(std::memory_order_relaxed);
    do {
      if (t < 1) return false;
    } while (!tokens_.compare_exchange_weak(t, t - 1, std::memory_order_relaxed));
    return true;
  }
  double tokens() const { return tokens_.load(std::memory_order_relaxed); }

 private:
  static constexpr double kCap = 100;
  std::atomic<double> ratio_{0};
  std::atomic<double> tokens_{10};  // a small reserve so a quiet target can still retry
};

struct TargetHealth {
  CircuitBreaker breaker;
  LatencyEwma latency;
  RetryBudget budget;
  std::atomic<uint32_t> in_flight{0};  // attempts running on this target, all workers (max_concurrent counts these)
  RpmBucket rpm;                       // the target's requests-per-minute limit, for the whole process
  RpmBucket tpm;                       // the target's (LLM) tokens-per-minute limit, for the whole process
  UpstreamIdentity identity;           // the model and fingerprint its answers report, and their changes
};

// Where requests wait for capacity (a worker's limit queues). A worker that frees capacity (an
// attempt ended, tokens came back) wakes the others that have waiters through the registry, so a
// slot freed on one worker admits a request waiting on another.
class CapacityWaiters {
 public:
  // [any] Requests are waiting here now.
  virtual bool hasWaiters() const = 0;
  // [any] Capacity may have freed: the waiters try again soon, on their own thread.
  virtual void wake() = 0;

 protected:
  ~CapacityWaiters() = default;
};

class HealthRegistry {
 public:
  HealthRegistry() = default;
  HealthRegistry(const HealthRegistry&) = delete;
  HealthRegistry& operator=(const HealthRegistry&) = delete;

  // The target's record, created on first use. Stable address for the registry's life.
  TargetHealth& target(const std::string& key);
  // The same, given the breaker, retry budget and rates every route naming it shares (the chain
  // merges theirs): when a chain is set, not per request, where it would take the breaker's and
  // the buckets' locks each time for nothing.
  TargetHealth& configure(const std::string& key, const TargetPolicy& policy, uint32_t rpm, uint32_t tpm);
  // [any] Every target's key and breaker state now, in key order (for /metrics).
  std::vector<std::pair<std::string, CircuitBreaker::State>> breakerStates(uint64_t now_ns) const;

  // [any] What a fleet shares about each target's breaker (ABI 1.2 `breakers`).
  struct BreakerSnapshot {
    std::string key;
    CircuitBreaker::State state = CircuitBreaker::State::kClosed;
    uint32_t open_remaining_ms = 0;
    bool opened_here = false;
    uint64_t times_opened = 0;
  };
  std::vector<BreakerSnapshot> breakerSnapshots(uint64_t now_ns) const;
  // [any] Each target's upstream identity and its changes, in key order (for /metrics).
  std::vector<std::pair<std::string, UpstreamIdentity::Snapshot>> upstreamIdentities() const;
  // [any] Opens a known target's breaker for `open_ms` (a trip elsewhere in the fleet); false
  // when no target has that key.
  bool openBreaker(std::string_view key, uint64_t now_ns, uint32_t open_ms);

  // Waiters to wake when capacity frees elsewhere. `w` must stay valid until removeWaiters(w)
  // has returned; after that it is never called again.
  void addWaiters(CapacityWaiters* w);
  void removeWaiters(CapacityWaiters* w);
  // More than one set of waiters shares this registry (several workers).
  bool shared() const { return subscribers_.load(std::memory_order_relaxed) > 1; }
  // Requests waiting for capacity in the whole process, kept by the waiters' owners: a worker
  // that frees capacity compares it with its own count before waking anyone (two loads when
  // nobody waits elsewhere, which is the common case). Sequentially consistent on purpose: see
  // Engine::countWaiting.
  void addWaiting(int64_t delta) { waiting_.fetch_add(delta); }
  int64_t waiting() const { return waiting_.load(); }
  // Wakes every set of waiters but `from` that has waiters.
  void capacityFreed(const CapacityWaiters* from);

 private:
  // Guards the map's shape (lookups shared, insertions exclusive); a record's contents guard
  // themselves. std::map keeps every node where it is, so handed-out pointers stay valid.
  mutable std::shared_mutex mu_;
  std::map<std::string, TargetHealth, std::less<>> targets_;

  std::mutex waiters_mu_;  // guards waiters_; held while waking so a removed set is never called
  std::vector<CapacityWaiters*> waiters_;
  std::atomic<size_t> subscribers_{0};
  std::atomic<int64_t> waiting_{0};
};

}  // namespace outrigger::resilience
