// A request's place in its route's limit queue, for whichever of its steps waits there (a
// limiter's refusal, or every target at its limit): joining within the route's bounds, the wait
// as a span when it leaves, and the end of the request at the queue timeout.
//
// Thread: the request's loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "chain/limit_queue.h"

namespace outrigger::chain {

class RequestContext;

class QueueSeat {
 public:
  QueueSeat(RequestContext& ctx, LimitWaiter* waiter) : ctx_(ctx), waiter_(waiter) {}

  // Joins the route's queue, to be tried again after `wait_ms` (0: when capacity frees); false,
  // counted in queue_full, when the queue is full. A wait that would reach the request's
  // deadline is left to the deadline timer (DEADLINE_EXCEEDED).
  bool join(uint32_t wait_ms, std::string_view why);
  bool seated() const { return queue_ != nullptr; }
  LimitQueue* queue() const { return queue_; }
  // Tried again and still limited: the new time to a refill and reason.
  void stillWaiting(uint32_t wait_ms, std::string_view why);
  // Leaves the queue, recording the wait as a span ("queued <ms> ms (<why>); <how>").
  void leave(std::string_view how);
  // The queue timeout passed: leaves and ends the request, RESOURCE_EXHAUSTED and retryable.
  void expire(std::string_view message, std::string_view origin);

  uint32_t waitMs() const { return wait_ms_; }
  const std::string& why() const { return why_; }

 private:
  RequestContext& ctx_;
  LimitWaiter* waiter_;
  LimitQueue* queue_ = nullptr;  // set while waiting
  uint64_t queued_ns_ = 0;
  uint32_t wait_ms_ = 0;  // the last time to a refill seen while waiting
  std::string why_;       // why it waits, for the span and the final error
};

}  // namespace outrigger::chain
