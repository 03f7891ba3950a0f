// A per-minute token bucket, thread-safe. The core's target limits and the built-in
// limiter.memory plugin both use it, so their refill and debt rules are one.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

namespace outrigger::resilience {

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

}  // namespace outrigger::resilience
