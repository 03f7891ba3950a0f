#include "chain/limit_queue.h"

#include <algorithm>
#include <vector>

#include "common/clock.h"

namespace outrigger::chain {
namespace {
constexpr uint64_t kMsNs = 1000000;
}  // namespace

LimitQueue::LimitQueue(uv_loop_t* loop) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
}

void LimitQueue::close() {
  // A stopping loop closes every handle it still has (EventLoop::drain) without a callback; by
  // the time the engine goes, that close is complete.
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
    delete this;
    return;
  }
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_),
           [](uv_handle_t* h) { delete static_cast<LimitQueue*>(h->data); });
}

bool LimitQueue::push(LimitWaiter* waiter, uint64_t expires_ns, uint32_t max_waiting) {
  if (size() >= max_waiting) return false;
  waiters_.push_back({waiter, expires_ns});
  armAt(expires_ns);
  reportCount();
  return true;
}

void LimitQueue::reportCount() {
  size_t now = size();
  if (now == reported_) return;
  int64_t delta = int64_t(now) - int64_t(reported_);
  reported_ = now;
  if (count_change_) count_change_(delta);
}

void LimitQueue::remove(LimitWaiter* waiter) {
  auto same = [&](const Waiter& w) { return w.waiter == waiter; };
  auto it = std::find_if(waiters_.begin(), waiters_.end(), same);
  if (it != waiters_.end()) waiters_.erase(it);
  for (size_t i = trying_next_; i < trying_.size(); ++i) {
    if (same(trying_[i])) trying_[i].waiter = nullptr;
  }
  kept_.erase(std::remove_if(kept_.begin(), kept_.end(), same), kept_.end());
  if (!draining_) reportCount();  // a drain reports once it is done
}

void LimitQueue::wakeIn(uint32_t delay_ms) {
  if (draining_) {
    if (delay_ms == 0) rewake_ = true;  // capacity freed while waiters were tried: try again
    else armAt(monoNowNs() + uint64_t(delay_ms) * kMsNs);
    return;
  }
  if (!waiters_.empty()) armAt(monoNowNs() + uint64_t(delay_ms) * kMsNs);
}

void LimitQueue::armAt(uint64_t at_ns) {
  if (armed_at_ns_ && armed_at_ns_ <= at_ns) return;
  uint64_t now = monoNowNs();
  // Rounded up: a timer that fires a little early would find the token not yet there.
  uint64_t delay_ms = at_ns > now ? (at_ns - now + kMsNs - 1) / kMsNs : 0;
  armed_at_ns_ = at_ns;
  uv_timer_start(&timer_, &LimitQueue::onTimer, delay_ms, 0);
}

void LimitQueue::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<LimitQueue*>(timer->data);
  self->armed_at_ns_ = 0;
  self->drain();
}

void LimitQueue::drain() {
  // Waiters are taken out while they are tried: one that starts may finish, end and remove
  // itself, and one that is still limited goes back in its place, keeping arrival order.
  draining_ = true;
  trying_.assign(waiters_.begin(), waiters_.end());
  waiters_.clear();
  trying_next_ = 0;
  kept_.clear();
  uint64_t now = monoNowNs();
  uint64_t next_ns = 0;
  while (trying_next_ < trying_.size()) {
    Waiter w = trying_[trying_next_++];
    if (!w.waiter) continue;  // removed by an earlier waiter's callback
    if (w.expires_ns <= now) {
      w.waiter->waitExpired();
      continue;
    }
    uint32_t wake_ms = 0;
    if (w.waiter->tryAgain(&wake_ms)) continue;
    kept_.push_back(w);
    if (wake_ms) {
      uint64_t at = now + uint64_t(wake_ms) * kMsNs;
      if (next_ns == 0 || at < next_ns) next_ns = at;
    }
  }
  // Requests that queued while the waiters were tried (behind them) stay behind them.
  waiters_.insert(waiters_.begin(), kept_.begin(), kept_.end());
  trying_.clear();
  trying_next_ = 0;
  kept_.clear();
  draining_ = false;
  for (const Waiter& w : waiters_) next_ns = next_ns ? std::min(next_ns, w.expires_ns) : w.expires_ns;
  if (rewake_) {
    rewake_ = false;
    if (!waiters_.empty()) next_ns = now;
  }
  if (next_ns) armAt(next_ns);
  reportCount();
}

}  // namespace outrigger::chain
