#include "chain/limiter_wait.h"

#include "chain/request_context.h"
#include "common/clock.h"

namespace outrigger::chain {

bool othersWaiting(const Route& route, Engine& engine) {
  const resilience::LimitPolicy& limits = route.policy.limits;
  if (!limits.queue) return false;
  LimitQueue& q = engine.limitQueue(route.name);
  return q.size() > 0 && q.size() < limits.queue_max;
}

bool LimiterWait::queueBehindOthers() {
  if (retrying_ || !othersWaiting(*ctx_.route_, ctx_.engine_)) return false;
  if (!seat_.join(0, "others are waiting for this route")) return false;
  seat_.queue()->wakeIn(0);
  return true;
}

bool LimiterWait::refused(uint32_t retry_after_ms, std::string_view why, std::string_view origin, bool* full) {
  *full = false;
  if (!ctx_.route_->policy.limits.queue) return false;
  origin_ = std::string(origin);
  if (retrying_) {
    still_limited_ = true;
    seat_.stillWaiting(retry_after_ms, why);
    return true;
  }
  if (asking_ && seat_.seated()) {  // a pending limiter asked again refused: wait on, in place
    asking_ = false;
    drop_spans_ = true;
    seat_.stillWaiting(retry_after_ms, why);
    if (retry_after_ms) seat_.queue()->wakeIn(retry_after_ms);
    return true;
  }
  if (seat_.join(retry_after_ms, why)) return true;
  *full = true;
  return false;
}

void LimiterWait::requestEnded(std::string_view why) {
  if (seat_.seated()) seat_.leave("left: the request ended (" + std::string(why) + ")");
}

void LimiterWait::admitted() {
  if (!asking_) return;
  asking_ = false;
  if (seat_.seated()) seat_.leave("admitted");
}

void LimiterWait::dropRetrySpans() {
  if (!drop_spans_) return;
  drop_spans_ = false;
  if (ctx_.spans_.size() > asking_spans_) ctx_.spans_.resize(asking_spans_);
}

bool LimiterWait::tryAgain(uint32_t* wake_ms) {
  if (ctx_.ended_) return true;
  if (asking_) return false;  // its limiter has not answered the last ask yet
  // A refusal while still waiting adds nothing to the record: its span goes, the wait's stays.
  size_t spans = ctx_.spans_.size();
  retrying_ = true;
  still_limited_ = false;
  bool went_on = ctx_.runStep(ctx_.route_->steps[ctx_.step_ - 1]);
  retrying_ = false;
  if (still_limited_ && !ctx_.ended_) {
    ctx_.spans_.resize(spans);
    *wake_ms = seat_.waitMs();
    return false;
  }
  if (!ctx_.ended_ && ctx_.pending_.stage) {  // the limiter answers later (limiter_done): keep the place
    asking_ = true;
    asking_spans_ = spans;
    return false;
  }
  if (seat_.seated()) seat_.leave(ctx_.ended_ ? "refused" : "admitted");
  if (went_on && !ctx_.ended_ && !ctx_.pending_.stage) ctx_.advance();
  return true;
}

void LimiterWait::waitExpired() { seat_.expire(seat_.why(), origin_.empty() ? "router" : origin_); }

}  // namespace outrigger::chain
