// One libuv loop on one thread, with post() as the only way in from other threads.
//
// post() pushes onto a bounded MPSC queue and wakes the loop with uv_async_send; the loop
// drains the whole queue per wake-up, since libuv coalesces async sends.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "common/mpsc_queue.h"

namespace outrigger::event {

class EventLoop {
 public:
  explicit EventLoop(uint32_t index, size_t queue_capacity = 1 << 16);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  uv_loop_t* loop() { return &loop_; }
  uint32_t index() const { return index_; }

  // [any] Queues `fn` to run on the loop thread. False when the queue is full or the loop has
  // stopped; `fn` is then not run (the caller counts the drop).
  bool post(std::function<void()> fn);
  // [any, not the loop's own thread] For the few posts that must not be lost (a new chain, the
  // stop of a worker): while the queue is full, waits for the loop to drain it. False only when
  // the loop is stopping. From the loop's own thread it runs `fn` at once (waiting would never end).
  bool postSurely(const std::function<void()>& fn);

  // [any] Asks the loop to close every handle and return from run().
  void stop();
  // Before the loop runs: `fn` runs once on the loop thread when it processes stop(), after the
  // last queued post and before it closes every handle. For owners whose handles must end in
  // order (callbacks' final calls first) without a post, which a full queue could refuse.
  void setBeforeClose(std::function<void()> fn) { before_close_ = std::move(fn); }
  // [any] stop() was called: post() refuses from now on.
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Runs the loop on the calling thread until stop(). Marks that thread as this loop's.
  void run();
  // Runs the loop on a new thread.
  void startThread();
  void join();

  // Runs the loop on the calling thread until `done()` holds or `timeout_ms` passes; true when
  // done. For tests that drive a loop by hand.
  bool runUntilForTest(const std::function<bool()>& done, uint64_t timeout_ms);

  bool inLoopThread() const { return current() == this; }
  // The loop running on this thread, or nullptr.
  static EventLoop* current();

  uint64_t droppedPosts() const { return dropped_posts_.load(std::memory_order_relaxed); }

  // [loop] Busy polling: for the next `spin_ns` the loop polls without sleeping, so an answer
  // arriving meanwhile is handled without a wake-up. 0 (the default) never spins.
  void setSpin(uint64_t spin_ns) { spin_ns_ = spin_ns; }
  // [loop] Work just happened (a request arrived, an upstream call went out or came back).
  void keepHot();

 private:
  static void onAsync(uv_async_t* handle);
  static void onSpin(uv_idle_t* handle);
  void drain();
  void runQueued();  // everything queued so far

  uv_loop_t loop_;
  uv_async_t async_;
  uv_idle_t spin_;
  uint64_t spin_ns_ = 0;
  uint64_t hot_until_ = 0;
  bool spinning_ = false;
  MpscQueue<std::function<void()>> queue_;
  std::vector<std::function<void()>> batch_;
  std::function<void()> before_close_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> dropped_posts_{0};
  std::thread thread_;
  const uint32_t index_;
};

}  // namespace outrigger::event
