#include "chain/queue_seat.h"

#include "chain/request_context.h"
#include "common/clock.h"

namespace outrigger::chain {
namespace {
constexpr uint64_t kNeverNs = ~uint64_t{0} / 2;
}  // namespace

bool QueueSeat::join(uint32_t wait_ms, std::string_view why) {
  const resilience::LimitPolicy& limits = ctx_.route_->policy.limits;
  LimitQueue& q = ctx_.engine_.limitQueue(ctx_.route_->name);
  uint64_t now = monoNowNs();
  uint64_t expires = limits.queue_timeout_ms ? now + uint64_t(limits.queue_timeout_ms) * 1000000 : ctx_.deadline_ns_;
  if (expires >= ctx_.deadline_ns_) expires = kNeverNs;
  if (!q.push(waiter_, expires, limits.queue_max)) {
    ctx_.engine_.counters().queue_full.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  ctx_.engine_.counters().queued.fetch_add(1, std::memory_order_relaxed);
  queue_ = &q;
  queued_ns_ = now;
  stillWaiting(wait_ms, why);
  if (wait_ms) q.wakeIn(wait_ms);
  return true;
}

void QueueSeat::stillWaiting(uint32_t wait_ms, std::string_view why) {
  wait_ms_ = wait_ms;
  why_ = std::string(why);
}

void QueueSeat::leave(std::string_view how) {
  uint64_t waited = monoNowNs() - queued_ns_;
  ctx_.spans_.push_back({"resilience", "", queued_ns_, waited,
                         "queued " + std::to_string(waited / 1000000) + " ms (" + why_ + "); " + std::string(how)});
  queue_->remove(waiter_);
  queue_ = nullptr;
}

void QueueSeat::expire(std::string_view message, std::string_view origin) {
  if (ctx_.ended_ || !queue_) return;
  leave("gave up at the queue timeout");
  ctx_.engine_.counters().queue_timeouts.fetch_add(1, std::memory_order_relaxed);
  ctx_.engine_.counters().give_ups.fetch_add(1, std::memory_order_relaxed);
  std::string text = std::string(message) + " (waited in the queue until its timeout)", from(origin);
  ctx_.end(Code::kResourceExhausted, text, from, /*retryable=*/true, wait_ms_ ? wait_ms_ : 1000);
}

}  // namespace outrigger::chain
