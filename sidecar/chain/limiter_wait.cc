#include "chain/limiter_wait.h"

#include "chain/request_context.h"
#include "common/clock.h"

namespace outrigger::chain {
namespace {
constexpr uint64_t kNeverNs = ~uint64_t{0} / 2;
}  // namespace

bool othersWaiting(const Route& route, Engine& engine) {
  const resilience::LimitPolicy& limits = route.policy.limits;
  if (!limits.queue) return false;
  LimitQueue& q = engine.limitQueue(route.name);
  return q.size() > 0 && q.size() < limits.queue_max;
}

bool LimiterWait::queueBehindOthers() {
  if (retrying_ || !othersWaiting(*ctx_.route_, ctx_.engine_)) return false;
  if (!join(0, "others are waiting for this route")) return false;
  queue_->wakeIn(0);
  return true;
}

bool LimiterWait::refused(uint32_t retry_after_ms, std::string_view why, std::string_view origin, bool* full) {
  *full = false;
  if (!ctx_.route_->policy.limits.queue) return false;
  origin_ = std::string(origin);
  if (retrying_) {
    still_limited_ = true;
    wait_ms_ = retry_after_ms;
    why_ = std::string(why);
    return true;
  }
  if (join(retry_after_ms, why)) return true;
  *full = true;
  return false;
}

bool LimiterWait::join(uint32_t wait_ms, std::string_view why) {
  const resilience::LimitPolicy& limits = ctx_.route_->policy.limits;
  LimitQueue& q = ctx_.engine_.limitQueue(ctx_.route_->name);
  uint64_t now = monoNowNs();
  // A wait that would reach the deadline is left to the deadline timer (DEADLINE_EXCEEDED).
  uint64_t expires = limits.queue_timeout_ms ? now + uint64_t(limits.queue_timeout_ms) * 1000000 : ctx_.deadline_ns_;
  if (expires >= ctx_.deadline_ns_) expires = kNeverNs;
  if (!q.push(this, expires, limits.queue_max)) {
    ctx_.engine_.counters().queue_full.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  ctx_.engine_.counters().queued.fetch_add(1, std::memory_order_relaxed);
  queue_ = &q;
  queued_ns_ = now;
  wait_ms_ = wait_ms;
  why_ = std::string(why);
  if (wait_ms) q.wakeIn(wait_ms);
  return true;
}

void LimiterWait::leave(std::string_view how) {
  uint64_t waited = monoNowNs() - queued_ns_;
  ctx_.spans_.push_back({"resilience", "", queued_ns_, waited,
                         "queued " + std::to_string(waited / 1000000) + " ms (" + why_ + "); " + std::string(how)});
  queue_->remove(this);
  queue_ = nullptr;
}

void LimiterWait::requestEnded(std::string_view why) {
  if (queue_) leave("left: the request ended (" + std::string(why) + ")");
}

bool LimiterWait::tryAgain(uint32_t* wake_ms) {
  if (ctx_.ended_) return true;
  // A refusal while still waiting adds nothing to the record: its span goes, the wait's stays.
  size_t spans = ctx_.spans_.size();
  retrying_ = true;
  still_limited_ = false;
  bool went_on = ctx_.runStep(ctx_.route_->steps[ctx_.step_ - 1]);
  retrying_ = false;
  if (still_limited_ && !ctx_.ended_) {
    ctx_.spans_.resize(spans);
    *wake_ms = wait_ms_;
    return false;
  }
  if (queue_) leave(ctx_.ended_ ? "refused" : ctx_.pending_.stage ? "asked the limiter again" : "admitted");
  if (went_on && !ctx_.ended_ && !ctx_.pending_.stage) ctx_.advance();
  return true;
}

void LimiterWait::waitExpired() {
  if (ctx_.ended_ || !queue_) return;
  leave("gave up at the queue timeout");
  ctx_.engine_.counters().queue_timeouts.fetch_add(1, std::memory_order_relaxed);
  ctx_.engine_.counters().give_ups.fetch_add(1, std::memory_order_relaxed);
  std::string why = why_, origin = origin_.empty() ? "router" : origin_;
  ctx_.end(Code::kResourceExhausted, why + " (waited in the queue until its timeout)", origin, /*retryable=*/true,
           wait_ms_ ? wait_ms_ : 1000);
}

}  // namespace outrigger::chain
