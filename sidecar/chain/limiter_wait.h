// A request that a limiter refused as over a limit, on a route that queues over limits
// (`limits.on_limit = "queue"`): it waits in the route's limit queue, with the requests waiting
// for targets, and asks the limiter again when woken (a refill at the limiter's retry time, or
// capacity freed on any worker). Requests arriving while others wait queue behind them before
// their first limiter step, so a refill goes to the oldest waiter.
//
// Thread: the request's loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "chain/limit_queue.h"
#include "chain/queue_seat.h"

namespace outrigger::chain {

class Engine;
class RequestContext;
struct Route;

// The route queues over limits and others wait in its queue, which is not full: a new request
// waits behind them.
bool othersWaiting(const Route& route, Engine& engine);

class LimiterWait final : public LimitWaiter {
 public:
  explicit LimiterWait(RequestContext& ctx) : ctx_(ctx), seat_(ctx, this) {}

  // Joins the route's queue before running the current limiter step; false (nothing done) when
  // nobody waits before this request.
  bool queueBehindOthers();
  // The current limiter step refused: true when the request waits (joined the queue, or was
  // being tried again from it and stays); false when it must end now (the route fails fast, or
  // its queue is full: `*full` says which).
  bool refused(uint32_t retry_after_ms, std::string_view why, std::string_view origin, bool* full);
  // The request ended: leaves the queue, with a span saying so.
  void requestEnded(std::string_view why);
  // The current limiter step admitted: a request asked again from the queue leaves it.
  void admitted();
  // After a refusal's span closed: a pending limiter's refusal of a request asked again from the
  // queue adds nothing to the record, as a refusal while still waiting never does.
  void dropRetrySpans();

  bool tryAgain(uint32_t* wake_ms) override;
  void waitExpired() override;

 private:
  RequestContext& ctx_;
  QueueSeat seat_;
  std::string origin_;          // the limiter that refused last
  bool retrying_ = false;       // tryAgain runs the limiter step again
  bool still_limited_ = false;  // ... and it refused again
  // The limiter asked again answers later (limiter.redis): the request keeps its place in the
  // queue (and its timeout) until it does; the spans the record had before the ask.
  bool asking_ = false;
  size_t asking_spans_ = 0;
  bool drop_spans_ = false;
};

}  // namespace outrigger::chain
