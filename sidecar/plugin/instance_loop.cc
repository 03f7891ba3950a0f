#include "plugin/instance_loop.h"

#include "event/event_loop.h"
#include "http_client/http_client.h"

namespace outrigger::plugin {
namespace {

constexpr uint32_t kFdEvents = OUTRIGGER_FD_READABLE | OUTRIGGER_FD_WRITABLE;

int uvEvents(uint32_t events) {
  return ((events & OUTRIGGER_FD_READABLE) ? UV_READABLE : 0) | ((events & OUTRIGGER_FD_WRITABLE) ? UV_WRITABLE : 0);
}

uint32_t fdEvents(int uv_events) {
  return ((uv_events & UV_READABLE) ? OUTRIGGER_FD_READABLE : 0u) |
         ((uv_events & UV_WRITABLE) ? OUTRIGGER_FD_WRITABLE : 0u);
}

// The memory goes in the close callback. A handle the loop already closed on its way down (a
// loop stopped without the engine retiring its instances first) has no callback to free it.
template <class T>
void closeAndFree(T* item, uv_handle_t* handle) {
  if (uv_is_closing(handle)) return;
  handle->data = item;
  uv_close(handle, [](uv_handle_t* h) { delete static_cast<T*>(h->data); });
}

}  // namespace

// `running`: its callback is on the stack, so an end asked for from inside it waits until the
// callback returns (`ended`), and the handle is closed only then.
struct InstanceLoop::Timer {
  uv_timer_t handle;
  InstanceLoop* owner;
  uint64_t id;
  outrigger_callback fn;
  void* user_data;
  bool repeating;
  bool running = false;
  bool ended = false;
};

struct InstanceLoop::Watch {
  uv_poll_t handle;
  InstanceLoop* owner;
  uint64_t id;
  int fd;
  outrigger_fd_callback fn;
  void* user_data;
  bool running = false;
  bool ended = false;
};

// One post on its way to the loop. If the loop's queue is destroyed without running it (a loop
// that never runs again), the destructor still gives the plugin its final call.
struct InstanceLoop::PostedCall {
  std::shared_ptr<InstanceLoop> owner;
  outrigger_callback fn;
  void* user_data;
  bool done = false;

  void run() {
    done = true;
    outrigger_status status = owner->retired() ? OUTRIGGER_E_STALE : OUTRIGGER_OK;
    ++owner->depth_;
    fn(user_data, status);
    --owner->depth_;
    finish();
  }
  void finish() {
    std::lock_guard<std::mutex> lock(owner->mu_);
    --owner->in_flight_;
  }
  ~PostedCall() {
    if (done) return;
    fn(user_data, OUTRIGGER_E_STALE);
    finish();
  }
};

// One transfer of the instance. The host's sink stands in front of the plugin's: it counts the
// plugin's callbacks as the instance's own (a teardown waits for them) and forgets the transfer
// when it completes. `owner` keeps the instance's loop state alive until the final call.
struct InstanceLoop::Transfer {
  std::shared_ptr<InstanceLoop> owner;
  outrigger_http_sink sink;
  void* user_data;
  uint64_t id = 0;

  // The plugin may cancel the transfer from inside its callback, which frees `t`: only the copy
  // of `owner` taken before the call is used after it.
  static outrigger_status onHead(void* u, const outrigger_http_response_head* head) noexcept {
    auto* t = static_cast<Transfer*>(u);
    if (!t->sink.on_head) return OUTRIGGER_OK;
    std::shared_ptr<InstanceLoop> owner = t->owner;
    LiveHold hold(owner.get());
    ++owner->depth_;
    outrigger_status rc = t->sink.on_head(t->user_data, head);
    --owner->depth_;
    return rc;
  }
  static outrigger_status onBody(void* u, outrigger_str bytes) noexcept {
    auto* t = static_cast<Transfer*>(u);
    if (!t->sink.on_body) return OUTRIGGER_OK;
    std::shared_ptr<InstanceLoop> owner = t->owner;
    LiveHold hold(owner.get());
    ++owner->depth_;
    outrigger_status rc = t->sink.on_body(t->user_data, bytes);
    --owner->depth_;
    return rc;
  }
  static void onComplete(void* u, const outrigger_http_result* result) noexcept {
    std::unique_ptr<Transfer> t(static_cast<Transfer*>(u));
    InstanceLoop* self = t->owner.get();
    LiveHold hold(self);
    self->forgetTransfer(t->id);
    ++self->depth_;
    t->sink.on_complete(t->user_data, result);
    --self->depth_;
  }
};

namespace {
const outrigger_http_sink kTransferSink = {
    OUTRIGGER_HEADER_INIT(outrigger_http_sink),
    &InstanceLoop::Transfer::onHead,
    &InstanceLoop::Transfer::onBody,
    &InstanceLoop::Transfer::onComplete,
};
// Request slots carry their worker's index in the top byte and a bounded slot index below it;
// this one is never handed out, so an instance's transfers never share an owner with a request.
constexpr uint32_t kInstanceOwnerSlot = 0xffffffffu;
std::atomic<uint32_t> g_next_owner{1};
}  // namespace

InstanceLoop::InstanceLoop(bool bindable)
    : bindable_(bindable), http_owner_{kInstanceOwnerSlot, g_next_owner.fetch_add(1, std::memory_order_relaxed)} {}

InstanceLoop::~InstanceLoop() { retire(); }

bool InstanceLoop::bind(event::EventLoop* loop, http_client::HttpClient* http, resilience::HealthRegistry* health) {
  std::vector<EarlyPost> refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!bindable_ || state_.load() != State::kUnbound) return false;
    loop_ = loop;
    http_ = http;
    health_ = health;
    state_.store(State::kBound, std::memory_order_release);
    for (const EarlyPost& p : early_) {
      if (!postLocked(p.fn, p.user_data)) refused.push_back(p);
    }
    early_.clear();
  }
  // A full or stopping queue: these posts can no longer run on the loop.
  for (const EarlyPost& p : refused) p.fn(p.user_data, OUTRIGGER_E_STALE);
  return true;
}

bool InstanceLoop::postLocked(outrigger_callback fn, void* user_data) {
  auto call = std::make_shared<PostedCall>();
  call->owner = shared_from_this();
  call->fn = fn;
  call->user_data = user_data;
  ++in_flight_;
  if (loop_->post([call] { call->run(); })) return true;
  --in_flight_;
  call->done = true;  // refused: the caller answers it
  return false;
}

outrigger_status InstanceLoop::post(outrigger_callback fn, void* user_data) {
  if (!fn) return OUTRIGGER_E_INVALID;
  if (!bindable_) return OUTRIGGER_E_UNSUPPORTED;
  std::unique_lock<std::mutex> lock(mu_);
  switch (state_.load()) {
    case State::kUnbound:
      if (early_.size() >= OUTRIGGER_INSTANCE_MAX_EARLY_POSTS) return OUTRIGGER_E_NOMEM;
      early_.push_back({fn, user_data});
      return OUTRIGGER_OK;
    case State::kBound:
      // Queued under the lock, so a teardown queued later runs after this post.
      if (postLocked(fn, user_data)) return OUTRIGGER_OK;
      if (!loop_->stopping()) return OUTRIGGER_E_NOMEM;
      break;
    case State::kClosing:
    case State::kRetired:
      break;
  }
  lock.unlock();
  fn(user_data, OUTRIGGER_E_STALE);
  return OUTRIGGER_OK;
}

outrigger_status InstanceLoop::onLoopCheck() const {
  if (!bindable_) return OUTRIGGER_E_UNSUPPORTED;
  State st = state_.load(std::memory_order_acquire);
  if (st == State::kUnbound) return OUTRIGGER_E_UNSUPPORTED;
  if (!loop_->inLoopThread()) return OUTRIGGER_E_WRONG_THREAD;
  return st == State::kBound ? OUTRIGGER_OK : OUTRIGGER_E_STALE;
}

outrigger_status InstanceLoop::health(resilience::HealthRegistry** out) {
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  if (!health_) return OUTRIGGER_E_UNSUPPORTED;  // the exporter thread's loop has no targets
  *out = health_;
  return OUTRIGGER_OK;
}

outrigger_status InstanceLoop::setTimer(uint32_t delay_ms, uint32_t repeat_ms, outrigger_callback fn, void* user_data,
                                        uint64_t* timer_id) {
  if (!fn || !timer_id) return OUTRIGGER_E_INVALID;
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  if (timers_.size() >= OUTRIGGER_INSTANCE_MAX_TIMERS) return OUTRIGGER_E_NOMEM;
  auto* t = new Timer{{}, this, next_id_++, fn, user_data, repeat_ms != 0};
  uv_timer_init(loop_->loop(), &t->handle);
  t->handle.data = t;
  uv_unref(reinterpret_cast<uv_handle_t*>(&t->handle));  // the worker's own handles decide when it stops
  uv_timer_start(&t->handle, &InstanceLoop::onTimer, delay_ms, repeat_ms);
  timers_.emplace(t->id, t);
  live_.fetch_add(1);
  *timer_id = t->id;
  return OUTRIGGER_OK;
}

outrigger_status InstanceLoop::cancelTimer(uint64_t timer_id) {
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  auto it = timers_.find(timer_id);
  if (it == timers_.end()) return OUTRIGGER_E_STALE;
  Timer* t = it->second;
  timers_.erase(it);
  live_.fetch_sub(1);
  endTimer(t);
  return OUTRIGGER_OK;
}

void InstanceLoop::endTimer(Timer* t) {
  uv_timer_stop(&t->handle);
  if (t->running) {
    t->ended = true;  // onTimer makes the final call once the callback returns
    return;
  }
  finalTimer(t);
}

void InstanceLoop::finalTimer(Timer* t) {
  ++depth_;
  t->fn(t->user_data, OUTRIGGER_E_STALE);
  --depth_;
  closeAndFree(t, reinterpret_cast<uv_handle_t*>(&t->handle));
}

void InstanceLoop::onTimer(uv_timer_t* handle) {
  auto* t = static_cast<Timer*>(handle->data);
  InstanceLoop* self = t->owner;
  // A teardown is queued: the timer's final call comes from retire().
  if (self->state_.load(std::memory_order_acquire) != State::kBound) return;
  LiveHold hold(self);  // until its final call, whichever that is, returned
  if (!t->repeating) {  // this call is its final one
    self->timers_.erase(t->id);
    self->live_.fetch_sub(1);
  }
  t->running = true;
  ++self->depth_;
  t->fn(t->user_data, OUTRIGGER_OK);
  --self->depth_;
  t->running = false;
  if (!t->repeating) {
    closeAndFree(t, reinterpret_cast<uv_handle_t*>(&t->handle));
  } else if (t->ended) {
    self->finalTimer(t);
  }
}

outrigger_status InstanceLoop::watch(int fd, uint32_t events, outrigger_fd_callback fn, void* user_data,
                                     uint64_t* watch_id) {
  if (!fn || !watch_id || fd < 0 || (events & ~kFdEvents)) return OUTRIGGER_E_INVALID;
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  if (watches_.size() >= OUTRIGGER_INSTANCE_MAX_WATCHES) return OUTRIGGER_E_NOMEM;
  for (const auto& [id, w] : watches_) {
    if (w->fd == fd) return OUTRIGGER_E_INVALID;
  }
  auto* w = new Watch{{}, this, next_id_++, fd, fn, user_data};
  // Refuses an fd that is not open or cannot be polled (a regular file), or one another handle
  // on this loop already polls.
  if (uv_poll_init(loop_->loop(), &w->handle, fd) != 0) {
    delete w;
    return OUTRIGGER_E_INVALID;
  }
  w->handle.data = w;
  uv_unref(reinterpret_cast<uv_handle_t*>(&w->handle));
  if (events) uv_poll_start(&w->handle, uvEvents(events), &InstanceLoop::onPoll);
  watches_.emplace(w->id, w);
  live_.fetch_add(1);
  *watch_id = w->id;
  return OUTRIGGER_OK;
}

outrigger_status InstanceLoop::updateWatch(uint64_t watch_id, uint32_t events) {
  if (events & ~kFdEvents) return OUTRIGGER_E_INVALID;
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  auto it = watches_.find(watch_id);
  if (it == watches_.end()) return OUTRIGGER_E_STALE;
  Watch* w = it->second;
  int rc = events ? uv_poll_start(&w->handle, uvEvents(events), &InstanceLoop::onPoll) : uv_poll_stop(&w->handle);
  return rc == 0 ? OUTRIGGER_OK : OUTRIGGER_E_INTERNAL;
}

outrigger_status InstanceLoop::unwatch(uint64_t watch_id) {
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  auto it = watches_.find(watch_id);
  if (it == watches_.end()) return OUTRIGGER_E_STALE;
  Watch* w = it->second;
  watches_.erase(it);
  live_.fetch_sub(1);
  endWatch(w);
  return OUTRIGGER_OK;
}

void InstanceLoop::endWatch(Watch* w) {
  // Stopping takes the fd out of the loop's poll set at once, so the plugin may close it after.
  uv_poll_stop(&w->handle);
  if (w->running) {
    w->ended = true;
    return;
  }
  finalWatch(w);
}

void InstanceLoop::finalWatch(Watch* w) {
  ++depth_;
  w->fn(w->user_data, w->fd, 0, OUTRIGGER_E_STALE);
  --depth_;
  closeAndFree(w, reinterpret_cast<uv_handle_t*>(&w->handle));
}

void InstanceLoop::onPoll(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<Watch*>(handle->data);
  InstanceLoop* self = w->owner;
  if (self->state_.load(std::memory_order_acquire) != State::kBound) return;
  LiveHold hold(self);  // until its final call, if this one unwatches it, returned
  w->running = true;
  ++self->depth_;
  if (status < 0) {
    w->fn(w->user_data, w->fd, 0, OUTRIGGER_E_INTERNAL);
  } else {
    w->fn(w->user_data, w->fd, fdEvents(events), OUTRIGGER_OK);
  }
  --self->depth_;
  w->running = false;
  if (w->ended) self->finalWatch(w);
}

bool InstanceLoop::deferTeardown(std::function<void()> teardown) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_.load() != State::kBound) return false;  // nothing on a loop, or already ended
  state_.store(State::kClosing, std::memory_order_release);
  bool here = loop_->inLoopThread();
  // On the loop with no callback of ours on the stack and no post queued, the caller ends
  // everything now. Off the loop, nothing of ours can run there when nothing is live: our
  // callbacks are the only way plugin code runs for an instance no chain holds.
  // Transfers still running are aborted from the queued teardown, never from inside one of the
  // HTTP client's callbacks, where the abort (and so the final call) would come only later.
  bool now = here ? depth_ == 0 && in_flight_ == 0 && transfers_.empty() : live_.load() == 0 && in_flight_ == 0;
  if (now) return false;
  teardown_ = std::move(teardown);
  // Behind every post already queued. When the loop is stopping instead, the engine that bound
  // this instance runs the teardown after retiring it, before the loop closes its handles.
  loop_->post([self = shared_from_this()] { self->runDeferredTeardown(); });
  return true;
}

void InstanceLoop::runDeferredTeardown() {
  std::function<void()> teardown;
  {
    std::lock_guard<std::mutex> lock(mu_);
    teardown.swap(teardown_);
  }
  if (teardown) teardown();
}

void InstanceLoop::retire() {
  std::vector<EarlyPost> early;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_.load() == State::kRetired) return;
    state_.store(State::kRetired, std::memory_order_release);
    early.swap(early_);
  }
  for (const EarlyPost& p : early) p.fn(p.user_data, OUTRIGGER_E_STALE);
  abortTransfers();
  auto timers = std::move(timers_);
  auto watches = std::move(watches_);
  timers_.clear();
  watches_.clear();
  live_.store(0);
  for (auto& [id, t] : timers) endTimer(t);
  for (auto& [id, w] : watches) endWatch(w);
}

outrigger_status InstanceLoop::httpRequest(const outrigger_http_request& request, const outrigger_http_sink& sink,
                                           void* user_data, uint64_t* transfer_id) {
  if (!transfer_id || !sink.on_complete) return OUTRIGGER_E_INVALID;
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  if (!http_) return OUTRIGGER_E_UNSUPPORTED;
  if (transfers_.size() >= OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS) return OUTRIGGER_E_NOMEM;
  auto t = std::make_unique<Transfer>();
  t->owner = shared_from_this();
  t->sink = sink;
  t->user_data = user_data;
  // No request, so no deadline: the request struct's own timeouts bound the transfer.
  outrigger_status st = http_->start(http_owner_, /*deadline_ns=*/0, request, kTransferSink, t.get(), &t->id);
  if (st != OUTRIGGER_OK) return st;
  uint64_t id = t->id;
  *transfer_id = id;
  transfers_.emplace(id, t.release());
  live_.fetch_add(1);
  return OUTRIGGER_OK;
}

outrigger_status InstanceLoop::httpCancel(uint64_t transfer_id) {
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  auto it = transfers_.find(transfer_id);
  if (it == transfers_.end()) return OUTRIGGER_E_STALE;
  Transfer* t = it->second;
  outrigger_status st = http_->cancel(http_owner_, transfer_id);
  if (st != OUTRIGGER_OK) return st;
  // Cancelled: no sink callback comes any more, so nothing else frees it.
  forgetTransfer(transfer_id);
  delete t;
  return OUTRIGGER_OK;
}

outrigger_status InstanceLoop::httpResume(uint64_t transfer_id) {
  if (outrigger_status st = onLoopCheck(); st != OUTRIGGER_OK) return st;
  if (!transfers_.count(transfer_id)) return OUTRIGGER_E_STALE;
  return http_->resume(http_owner_, transfer_id);
}

void InstanceLoop::forgetTransfer(uint64_t transfer_id) {
  if (transfers_.erase(transfer_id) == 0) return;
  live_.fetch_sub(1);
  http_->forget(http_owner_, transfer_id);
}

void InstanceLoop::abortTransfers() {
  // Each completes with OUTRIGGER_HTTP_E_CANCELLED through its sink, which frees it.
  if (http_ && !transfers_.empty()) http_->abortOwnedBy(http_owner_);
}

}  // namespace outrigger::plugin
