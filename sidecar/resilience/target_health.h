// What the process knows about each upstream target: its circuit breaker, a latency average for
// lowest-latency routing, its retry budget, its rate buckets and the attempts it has in flight;
// and each tenant's rate buckets. Keyed by "instance/model"; survives config reloads so a target
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

// A per-minute token bucket: holds up to `per_minute` tokens, refilled continuously. Used for
// requests per minute (take one per request) and for LLM tokens per minute (charge the usage
// after the answer, which may leave a debt that blocks until refilled). Every call takes the
// bucket's own mutex for a few arithmetic steps; take() decides and takes in one step, so N
// threads racing for the last token get it exactly once.
class RpmBucket {
 public:
  // A new rate keeps what is left (clamped to the new size, debt kept), so a reload that changes
  // it cannot hand out a fresh minute; a bucket that had no rate starts full.
  void setRate(uint32_t per_minute);
  bool limited() const { return rate_.load(std::memory_order_relaxed) > 0; }
  // Takes a token if one is there (always true without a rate).
  bool take(uint64_t now_ns);
  // Subtracts `amount` (the bucket may go into debt); a negative amount refunds, up to full.
  void charge(uint64_t now_ns, double amount);
  // Time until `need` tokens are there, in ms (0 when they are or there is no rate). A need
  // above the bucket's size waits for a full bucket, so a large request is slow, not refused.
  uint32_t waitMs(uint64_t now_ns, double need = 1);
  double tokens() const;

 private:
  void refill(uint64_t now_ns, uint32_t rate);  // with mu_ held

  mutable std::mutex mu_;          // guards the members below; rate_ is written under it too
  std::atomic<uint32_t> rate_{0};  // atomic so an unlimited bucket answers without the lock
  double tokens_ = 0;
  uint64_t last_ns_ = 0;
  bool started_ = false;
};

struct TargetHealth {
  CircuitBreaker breaker;
  LatencyEwma latency;
  RetryBudget budget;
  std::atomic<uint32_t> in_flight{0};  // attempts running on this target, all workers (max_concurrent counts these)
  RpmBucket rpm;                       // the target's requests-per-minute limit, for the whole process
  RpmBucket tpm;                       // the target's (LLM) tokens-per-minute limit, for the whole process
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

  // The target's record, created on first use; the newest route's policies apply. Stable address
  // for the registry's life.
  TargetHealth& target(const std::string& key, const RoutePolicy& policy);
  // The tenant's requests-per-minute bucket on this route, or nullptr when the table is full
  // (bounded; over the bound a new tenant is refused rather than tracked). Stable address.
  RpmBucket* tenant(const std::string& route, const std::string& tenant, uint32_t per_minute);
  // Likewise, the tenant's LLM tokens-per-minute bucket on this route.
  RpmBucket* tenantTokens(const std::string& route, const std::string& tenant, uint32_t per_minute);

  static constexpr size_t kMaxTenants = 10000;

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
  RpmBucket* bucket(std::string key, uint32_t per_minute);

  // Guards the two maps' shape (lookups shared, insertions exclusive); a record's contents guard
  // themselves. std::map keeps every node where it is, so handed-out pointers stay valid.
  mutable std::shared_mutex mu_;
  std::map<std::string, TargetHealth, std::less<>> targets_;
  std::map<std::string, RpmBucket, std::less<>> tenants_;  // requests and tokens buckets share the bound

  std::mutex waiters_mu_;  // guards waiters_; held while waking so a removed set is never called
  std::vector<CapacityWaiters*> waiters_;
  std::atomic<size_t> subscribers_{0};
  std::atomic<int64_t> waiting_{0};
};

}  // namespace outrigger::resilience
