#include "event/event_loop.h"

#include <pthread.h>

#include <chrono>
#include <thread>
#include <utility>

#include "common/clock.h"
#include "common/crash_report.h"

namespace outrigger::event {
namespace {
thread_local EventLoop* t_current = nullptr;
}

EventLoop::EventLoop(uint32_t index, size_t queue_capacity) : queue_(queue_capacity), index_(index) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &EventLoop::onAsync);
  async_.data = this;
  uv_idle_init(&loop_, &spin_);
  spin_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&spin_));
}

void EventLoop::keepHot() {
  if (spin_ns_ == 0) return;
  hot_until_ = monoNowNs() + spin_ns_;
  if (!spinning_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&spin_))) {
    spinning_ = true;
    uv_idle_start(&spin_, &EventLoop::onSpin);
  }
}

// An active idle handle makes uv_run poll with a zero timeout; it stops once the loop was quiet
// for the spin time.
void EventLoop::onSpin(uv_idle_t* handle) {
  auto* self = static_cast<EventLoop*>(handle->data);
  if (monoNowNs() < self->hot_until_) return;
  self->spinning_ = false;
  uv_idle_stop(handle);
}

EventLoop::~EventLoop() {
  join();
  // Close whatever is left (a loop that never ran) so uv_loop_close succeeds.
  for (auto* h : {reinterpret_cast<uv_handle_t*>(&async_), reinterpret_cast<uv_handle_t*>(&spin_)}) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

EventLoop* EventLoop::current() { return t_current; }

bool EventLoop::post(std::function<void()> fn) {
  if (stopping_.load(std::memory_order_acquire) || !queue_.push(std::move(fn))) {
    dropped_posts_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  uv_async_send(&async_);
  return true;
}

bool EventLoop::postSurely(const std::function<void()>& fn) {
  if (inLoopThread()) {
    fn();
    return true;
  }
  for (;;) {
    if (stopping_.load(std::memory_order_acquire)) return false;
    if (queue_.push(fn)) {
      uv_async_send(&async_);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void EventLoop::onAsync(uv_async_t* handle) { static_cast<EventLoop*>(handle->data)->drain(); }

void EventLoop::runQueued() {
  queue_.drain(&batch_);
  for (auto& fn : batch_) fn();
  batch_.clear();
}

void EventLoop::drain() {
  runQueued();
  if (stopping_.load(std::memory_order_acquire)) {
    // Run anything that raced in, then close every handle; run() returns once they are closed.
    runQueued();
    if (auto before_close = std::exchange(before_close_, nullptr)) before_close();
    uv_walk(&loop_, [](uv_handle_t* h, void*) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }, nullptr);
  }
}

void EventLoop::stop() {
  stopping_.store(true, std::memory_order_release);
  uv_async_send(&async_);
}

void EventLoop::run() {
  t_current = this;
  uv_run(&loop_, UV_RUN_DEFAULT);
  t_current = nullptr;
}

bool EventLoop::runUntilForTest(const std::function<bool()>& done, uint64_t timeout_ms) {
  t_current = this;
  uv_update_time(&loop_);
  uint64_t deadline = uv_now(&loop_) + timeout_ms;
  bool ok = done();
  while (!ok && uv_now(&loop_) < deadline) {
    uv_run(&loop_, UV_RUN_NOWAIT);
    ok = done();
    if (!ok) uv_sleep(1);
    uv_update_time(&loop_);
  }
  t_current = nullptr;
  return ok;
}

void EventLoop::startThread() {
  thread_ = std::thread([this] {
    // Named for top -H, perf and /proc/<pid>/task/*/comm (15 characters at most).
    std::string name = index_ == 0xff ? "or-exporter" : "or-worker-" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    reportStackOverflowsOnThisThread();  // plugin code runs here
    run();
  });
}

void EventLoop::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace outrigger::event
