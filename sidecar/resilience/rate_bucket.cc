#include "resilience/rate_bucket.h"

#include <algorithm>

namespace outrigger::resilience {

void RpmBucket::setRate(uint32_t per_minute) {
  if (per_minute == rate_.load(std::memory_order_relaxed)) return;  // the common case: every request sets it
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t rate = rate_.load(std::memory_order_relaxed);
  if (per_minute == rate) return;
  tokens_ = rate == 0 ? double(per_minute) : std::min(tokens_, double(per_minute));
  rate_.store(per_minute, std::memory_order_relaxed);
}

bool RpmBucket::take(uint64_t now_ns) {
  if (!limited()) return true;
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t rate = rate_.load(std::memory_order_relaxed);
  if (rate == 0) return true;
  refill(now_ns, rate);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

void RpmBucket::charge(uint64_t now_ns, double amount) {
  if (!limited()) return;
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t rate = rate_.load(std::memory_order_relaxed);
  if (rate == 0) return;
  refill(now_ns, rate);
  tokens_ = std::min(tokens_ - amount, double(rate));
}

uint32_t RpmBucket::waitMs(uint64_t now_ns, double need) {
  if (!limited()) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t rate = rate_.load(std::memory_order_relaxed);
  if (rate == 0) return 0;
  refill(now_ns, rate);
  need = std::min(need, double(rate));
  if (tokens_ >= need) return 0;
  return uint32_t((need - tokens_) * 60000.0 / rate) + 1;
}

double RpmBucket::tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_;
}

void RpmBucket::refill(uint64_t now_ns, uint32_t rate) {
  // Threads read the clock before they get the lock, so `now_ns` may be a little behind the last
  // caller's: time never runs backwards here, the late caller just adds nothing.
  if (started_ && now_ns > last_ns_) tokens_ = std::min(tokens_ + double(now_ns - last_ns_) * rate / 60e9, double(rate));
  if (!started_ || now_ns > last_ns_) last_ns_ = now_ns;
  started_ = true;
}

}  // namespace outrigger::resilience
