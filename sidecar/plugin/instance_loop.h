// A plugin instance's own use of its loop, without a request: posts, timers, fd watches and
// outbound HTTP (ABI 1.2 instance_post, instance_timer, watch_fd, instance_http_request). It
// makes a Redis client on the worker's loop, a periodic refresh or an exporter that batches and
// POSTs possible, and guarantees each callback a final call.
//
// Binding. Instances are created on the main thread before their loop runs them, so the loop is
// bound later: a per-worker instance by its worker's engine when it installs the first chain
// that holds the instance (Engine::setChain), an exporter by the exporter thread when the daemon
// hands it a snapshot's exporters (ExporterThread::adopt). Until then posts queue (bounded) and
// timers, watches and transfers are refused with OUTRIGGER_E_UNSUPPORTED; shared instances are
// never bound.
//
// Transfers. An instance's transfers go through the HTTP client of the loop it is bound to,
// under an owner of their own (not a request), so they have no deadline but their own timeouts.
// The instance owns them: teardown aborts those still running, each completing with
// OUTRIGGER_HTTP_E_CANCELLED before destroy.
//
// Teardown. The instance's last reference may drop on any thread. When it still has timers,
// watches or posts on its loop, or one of its callbacks is running, the teardown (retire, then
// the plugin's destroy) is queued to the loop; otherwise it runs where the reference dropped.
// retire() aborts the transfers, closes every handle on the loop thread and gives each callback
// its final OUTRIGGER_E_STALE call before destroy. When the loop stops first, whoever bound the
// instance (engine or exporter thread) retires it, and runs a teardown left queued, before the
// loop closes its handles.
//
// Threads: post() and deferTeardown() are [any]; bind() is called by the binding engine; the
// timer and watch calls check that they run on the bound loop. Handle memory is freed in the
// close callbacks, which touch nothing else.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <outrigger/plugin.h>

namespace outrigger::event { class EventLoop; }
namespace outrigger::http_client { class HttpClient; }
namespace outrigger::resilience { class HealthRegistry; }

namespace outrigger::plugin {

class InstanceLoop : public std::enable_shared_from_this<InstanceLoop> {
 public:
  // `bindable`: the instance runs on one loop (a worker's, or the exporter thread's; not shared).
  explicit InstanceLoop(bool bindable);
  ~InstanceLoop();
  InstanceLoop(const InstanceLoop&) = delete;
  InstanceLoop& operator=(const InstanceLoop&) = delete;

  // Binds to `loop` and hands it the posts queued so far. `http`: that loop's HTTP client, which
  // must outlive the binding until retire(); nullptr refuses transfers with
  // OUTRIGGER_E_UNSUPPORTED. `health`: the process's targets, when a worker binds (the breaker
  // calls); nullptr refuses them. False when the instance has no single loop, is bound already
  // or was torn down (the caller then keeps no reference for retiring).
  bool bind(event::EventLoop* loop, http_client::HttpClient* http = nullptr,
            resilience::HealthRegistry* health = nullptr);
  // [instance loop] The registry given to bind (the breaker calls), or why there is none.
  outrigger_status health(resilience::HealthRegistry** out);

  // The host API calls; each returns the status the plugin gets (see plugin.h).
  outrigger_status post(outrigger_callback fn, void* user_data);  // [any]
  outrigger_status setTimer(uint32_t delay_ms, uint32_t repeat_ms, outrigger_callback fn, void* user_data,
                            uint64_t* timer_id);
  outrigger_status cancelTimer(uint64_t timer_id);
  outrigger_status watch(int fd, uint32_t events, outrigger_fd_callback fn, void* user_data, uint64_t* watch_id);
  outrigger_status updateWatch(uint64_t watch_id, uint32_t events);
  outrigger_status unwatch(uint64_t watch_id);
  outrigger_status httpRequest(const outrigger_http_request& request, const outrigger_http_sink& sink,
                               void* user_data, uint64_t* transfer_id);
  outrigger_status httpCancel(uint64_t transfer_id);
  outrigger_status httpResume(uint64_t transfer_id);

  // [any] The instance's last reference dropped. True when `teardown` (which must retire this and
  // destroy the plugin) was queued to the loop, or kept for the engine's retire when the loop is
  // stopping; false when the caller runs it now. From here on, posts are answered
  // OUTRIGGER_E_STALE on the posting thread and new timers and watches are refused.
  bool deferTeardown(std::function<void()> teardown);
  // [loop, or its loop not running] Ends every timer and watch with its final OUTRIGGER_E_STALE
  // call and answers queued early posts with it; later calls get OUTRIGGER_E_STALE. Idempotent.
  void retire();
  // [loop, or its loop not running] Runs a teardown deferTeardown kept and that has not run.
  void runDeferredTeardown();

  bool retired() const { return state_.load(std::memory_order_acquire) == State::kRetired; }
  size_t timersForTest() const { return timers_.size(); }
  size_t watchesForTest() const { return watches_.size(); }
  size_t transfersForTest() const { return transfers_.size(); }

  struct Transfer;  // public for the sink table in the .cc

 private:
  enum class State { kUnbound, kBound, kClosing, kRetired };
  struct Timer;
  struct Watch;
  struct PostedCall;
  struct EarlyPost {
    outrigger_callback fn;
    void* user_data;
  };

  outrigger_status onLoopCheck() const;
  bool postLocked(outrigger_callback fn, void* user_data);  // mu_ held, state kBound
  void endTimer(Timer* t);
  void endWatch(Watch* w);
  void finalTimer(Timer* t);
  void finalWatch(Watch* w);
  static void onTimer(uv_timer_t* handle);
  static void onPoll(uv_poll_t* handle, int status, int events);
  void abortTransfers();
  void forgetTransfer(uint64_t transfer_id);
  // Held across a plugin callback and the final call it may lead to (a timer, watch or transfer
  // the callback cancels): the instance stays live, so a last reference dropped off the loop
  // meanwhile queues the teardown instead of destroying the instance under the call.
  struct LiveHold {
    explicit LiveHold(InstanceLoop* l) : loop(l) { loop->live_.fetch_add(1); }
    ~LiveHold() { loop->live_.fetch_sub(1); }
    LiveHold(const LiveHold&) = delete;
    LiveHold& operator=(const LiveHold&) = delete;
    InstanceLoop* loop;
  };

  const bool bindable_;
  mutable std::mutex mu_;  // state_ changes, loop_, early_, in_flight_, teardown_
  std::atomic<State> state_{State::kUnbound};
  event::EventLoop* loop_ = nullptr;
  std::vector<EarlyPost> early_;
  size_t in_flight_ = 0;  // posts queued on the loop and not yet run
  std::function<void()> teardown_;
  http_client::HttpClient* http_ = nullptr;
  resilience::HealthRegistry* health_ = nullptr;
  // Owner of this instance's transfers in the HTTP client: a slot no request handle uses.
  outrigger_request http_owner_{};
  // Loop thread only (or while the loop does not run).
  std::unordered_map<uint64_t, Timer*> timers_;
  std::unordered_map<uint64_t, Watch*> watches_;
  std::unordered_map<uint64_t, Transfer*> transfers_;  // by the HTTP client's transfer id
  std::atomic<size_t> live_{0};  // timers_ + watches_ + transfers_ + callbacks running (LiveHold), read by
                                 // deferTeardown on any thread
  uint64_t next_id_ = 1;
  int depth_ = 0;  // callbacks of this instance running on the loop
};

}  // namespace outrigger::plugin
