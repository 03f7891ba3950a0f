// Delivers alert notifications to the [alerts] webhook from the daemon's main loop: one POST at
// a time, in order, each retried with doubling backoff (1 s, 2 s, 4 s ... at most 60 s) on a
// transport error, a timeout, 408, 429 or 5xx, up to `max_attempts`; another 4xx is final.
// Waiting notifications are bounded (`queue_capacity`); past it a resolved notification takes
// the place of a waiting firing one (of its alert if there is one, else the oldest), so a
// receiver never keeps showing an alert that ended; otherwise the newest is dropped. Every drop
// and failure is counted for /metrics, and reported to `on_lost` (but a final 4xx: the receiver
// refused that body, and would refuse it again) so the evaluator can send it again later.
// Thread: the main loop's. Call shutdown() while the loop still runs.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "http_client/http_client.h"

namespace outrigger::alerts {

struct WebhookCounters {
  uint64_t delivered = 0;  // a 2xx answer
  uint64_t failed = 0;     // given up: attempts spent or a final 4xx
  uint64_t dropped = 0;    // the queue was full
  uint64_t retries = 0;
};

class WebhookSender {
 public:
  // `transport`: TLS trust and connection limits, as the upstream transfers use them.
  WebhookSender(uv_loop_t* loop, const config::AlertSettings& settings, http_client::HttpClientSettings transport = {});
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // The longest one notification can take from its first attempt to delivery or to being given up
  // on: every attempt timing out, with the backoffs between them.
  static int64_t longestDeliveryMs(const config::AlertSettings& settings);

  // Queues one JSON body; `fingerprint` names its alert, `resolved` says it ends the alert.
  void send(std::string body, std::string fingerprint = "", bool resolved = false);
  // Called with a notification's fingerprint when it is dropped or its attempts are spent.
  using LostCallback = std::function<void(const std::string& fingerprint, bool resolved)>;
  void onLost(LostCallback callback) { on_lost_ = std::move(callback); }
  // Aborts what is in flight and stops retrying; later sends are dropped.
  void shutdown();

  const WebhookCounters& counters() const { return counters_; }
  size_t queued() const { return queue_.size(); }

 private:
  static void onComplete(void* self, const outrigger_http_result* result) noexcept;
  static void onRetry(uv_timer_t* timer);
  void startNext();
  void finished(bool delivered, bool retry, bool spent = false);
  void lost(const std::string& fingerprint, bool resolved);

  uv_loop_t* loop_;
  std::string url_;
  std::string auth_;  // "Bearer <token>" or ""
  uint32_t max_attempts_, timeout_ms_, capacity_;
  std::unique_ptr<http_client::HttpClient> client_;
  uv_timer_t* retry_timer_;  // closed and freed through its close callback
  struct Queued {
    std::string body, fingerprint;
    bool resolved = false;
  };
  std::deque<Queued> queue_;  // the front is in flight or waiting for its retry
  bool in_flight_ = false;
  bool waiting_ = false;
  bool stopped_ = false;
  uint32_t attempt_ = 0;
  uint64_t transfer_id_ = 0;
  WebhookCounters counters_;
  LostCallback on_lost_;
};

}  // namespace outrigger::alerts
