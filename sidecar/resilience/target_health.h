// What one worker knows about each upstream target: its circuit breaker, a latency average for
// lowest-latency routing, and its retry budget. Keyed by "instance/model"; survives config
// reloads so a target keeps its history across chain snapshots. No locks: one per worker.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "resilience/circuit_breaker.h"
#include "resilience/policy.h"

namespace outrigger::resilience {

// Exponentially weighted moving average of successful attempt latency.
class LatencyEwma {
 public:
  void add(double ms) {
    value_ = seen_ ? value_ + kAlpha * (ms - value_) : ms;
    seen_ = true;
  }
  bool seen() const { return seen_; }
  double ms() const { return value_; }

 private:
  static constexpr double kAlpha = 0.2;
  double value_ = 0;
  bool seen_ = false;
};

// A retry budget (Finagle style): every first attempt deposits `ratio` tokens, every retry of
// the target withdraws one; retries stop while the bucket is empty, so retries can add at most
// about `ratio` x the request rate (plus the initial reserve) to an upstream that is failing.
class RetryBudget {
 public:
  void setRatio(double ratio) { ratio_ = ratio; }
  void deposit() {
    if (ratio_ > 0 && tokens_ < kCap) tokens_ += ratio_;
  }
  // True (and one token spent) when a retry may go; always true with no budget configured.
  bool withdraw() {
    if (ratio_ <= 0) return true;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }
  double tokens() const { return tokens_; }

 private:
  static constexpr double kCap = 100;
  double ratio_ = 0;
  double tokens_ = 10;  // a small reserve so a quiet target can still retry
};

// A per-minute token bucket: holds up to `per_minute` tokens, refilled continuously. Used for
// requests per minute (take one per request) and for LLM tokens per minute (charge the usage
// after the answer, which may leave a debt that blocks until refilled).
class RpmBucket {
 public:
  // A new rate keeps what is left (clamped to the new size, debt kept), so a reload that changes
  // it cannot hand out a fresh minute; a bucket that had no rate starts full.
  void setRate(uint32_t per_minute) {
    if (per_minute == rate_) return;
    tokens_ = rate_ == 0 ? double(per_minute) : std::min(tokens_, double(per_minute));
    rate_ = per_minute;
  }
  bool limited() const { return rate_ > 0; }
  // Takes a token if one is there (always true without a rate).
  bool take(uint64_t now_ns) {
    if (rate_ == 0) return true;
    refill(now_ns);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }
  // Subtracts `amount` (the bucket may go into debt); a negative amount refunds, up to full.
  void charge(uint64_t now_ns, double amount) {
    if (rate_ == 0) return;
    refill(now_ns);
    tokens_ -= amount;
    if (tokens_ > rate_) tokens_ = rate_;
  }
  // Time until `need` tokens are there, in ms (0 when they are or there is no rate). A need
  // above the bucket's size waits for a full bucket, so a large request is slow, not refused.
  uint32_t waitMs(uint64_t now_ns, double need = 1) {
    if (rate_ == 0) return 0;
    refill(now_ns);
    if (need > rate_) need = rate_;
    if (tokens_ >= need) return 0;
    return uint32_t((need - tokens_) * 60000.0 / rate_) + 1;
  }
  double tokens() const { return tokens_; }

 private:
  void refill(uint64_t now_ns) {
    if (started_ && now_ns > last_ns_) {
      tokens_ += double(now_ns - last_ns_) * rate_ / 60e9;
      if (tokens_ > rate_) tokens_ = rate_;
    }
    if (!started_ || now_ns > last_ns_) last_ns_ = now_ns;
    started_ = true;
  }
  uint32_t rate_ = 0;
  double tokens_ = 0;
  uint64_t last_ns_ = 0;
  bool started_ = false;
};

struct TargetHealth {
  CircuitBreaker breaker;
  LatencyEwma latency;
  RetryBudget budget;
  uint32_t in_flight = 0;  // attempts running on this worker (the concurrency limit counts these)
  RpmBucket rpm;           // this worker's share of the target's requests-per-minute limit
  RpmBucket tpm;           // this worker's share of the target's (LLM) tokens-per-minute limit
};

class HealthRegistry {
 public:
  // The target's record, created on first use; the newest route's policies apply. Stable address.
  TargetHealth& target(const std::string& key, const RoutePolicy& policy);
  // The tenant's requests-per-minute bucket on this route, or nullptr when the table is full
  // (bounded; over the bound a new tenant is refused rather than tracked).
  RpmBucket* tenant(const std::string& route, const std::string& tenant, uint32_t per_minute);
  // Likewise, the tenant's LLM tokens-per-minute bucket on this route.
  RpmBucket* tenantTokens(const std::string& route, const std::string& tenant, uint32_t per_minute);

  static constexpr size_t kMaxTenants = 10000;

 private:
  std::map<std::string, TargetHealth> targets_;
  RpmBucket* bucket(std::string key, uint32_t per_minute);
  std::map<std::string, RpmBucket> tenants_;  // requests and tokens buckets share the bound
};

}  // namespace outrigger::resilience
