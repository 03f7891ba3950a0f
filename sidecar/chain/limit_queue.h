// Requests of one route that found every upstream target (or their tenant) over a rate or
// concurrency limit and wait for capacity instead of failing fast: a bounded FIFO per route and
// worker. Waiters are tried again, oldest first, when a token refills (a timer armed for the
// soonest refill a waiter reported) and when a concurrency slot frees (wakeSoon); a waiter past
// its expiry is told so and leaves. A waiter that ends for any other reason removes itself.
//
// Thread: the worker's loop thread only. Frees itself after close(), once its timer has closed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

namespace outrigger::chain {

class LimitWaiter {
 public:
  // Tries to start again. True when the waiter is done waiting (it started, or it ended);
  // false when it is still limited, with `*wake_ms` the time until a token refills (0: unknown,
  // e.g. waiting for a concurrency slot).
  virtual bool tryAgain(uint32_t* wake_ms) = 0;
  // The waiter's time in the queue ran out; it has left the queue and must end now.
  virtual void waitExpired() = 0;

 protected:
  ~LimitWaiter() = default;
};

class LimitQueue {
 public:
  explicit LimitQueue(uv_loop_t* loop);
  LimitQueue(const LimitQueue&) = delete;
  LimitQueue& operator=(const LimitQueue&) = delete;

  // Stops the timer and frees this once it has closed. The queue must be empty.
  void close();

  // Appends a waiter that expires at `expires_ns` (monotonic); false, adding nothing, when
  // `max_waiting` already wait.
  bool push(LimitWaiter* waiter, uint64_t expires_ns, uint32_t max_waiting);
  // Removes a waiter (no-op when absent).
  void remove(LimitWaiter* waiter);
  // Tries the waiters again after `delay_ms` (0: on the loop's next turn, never from inside the
  // caller); an earlier wake-up already armed stays.
  void wakeIn(uint32_t delay_ms);
  // Waiting now, including those being tried by a drain in progress.
  size_t size() const { return waiters_.size() + trying_.size() - trying_next_ + kept_.size(); }
  // `fn` is told how size() changed (+n or -n) after each push, removal and pass over the
  // waiters, on the loop thread; its owner publishes the count to other threads.
  void onCountChange(std::function<void(int64_t delta)> fn) { count_change_ = std::move(fn); }

 private:
  ~LimitQueue() = default;
  void reportCount();
  struct Waiter {
    LimitWaiter* waiter;
    uint64_t expires_ns;
  };
  static void onTimer(uv_timer_t* timer);
  void drain();
  void armAt(uint64_t at_ns);

  std::deque<Waiter> waiters_;
  // While drain() runs: the waiters being tried in order (entries from trying_next_ on are still
  // to try; a removed one is nulled) and those tried and still limited. Kept as members so that
  // size() and remove() see them from inside a waiter's callback.
  std::vector<Waiter> trying_;
  size_t trying_next_ = 0;
  std::vector<Waiter> kept_;
  bool draining_ = false;
  bool rewake_ = false;  // a wake-up asked for during a drain: one more pass right after it
  uv_timer_t timer_;
  uint64_t armed_at_ns_ = 0;  // when the timer fires; 0: not armed
  std::function<void(int64_t)> count_change_;
  size_t reported_ = 0;  // the size count_change_ was last told of
};

}  // namespace outrigger::chain
