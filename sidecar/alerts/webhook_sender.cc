#include "alerts/webhook_sender.h"

#include <algorithm>
#include <string_view>

#include "common/log.h"

namespace outrigger::alerts {
namespace {

// Transfers of the sender belong to no request; a slot no request uses names them.
constexpr outrigger_request kOwner = {0xfffffffeu, 1};

// A view, not a copy: the literals passed here live forever, the members as long as the sender.
outrigger_str text(std::string_view s) { return {s.data(), s.size()}; }

// After attempt `attempt` (from 1): 1 s, doubling, at most 60 s.
uint64_t backoffMs(uint32_t attempt) { return std::min<uint64_t>(60000, 1000ull << std::min<uint32_t>(attempt - 1, 6)); }

}  // namespace

int64_t WebhookSender::longestDeliveryMs(const config::AlertSettings& settings) {
  int64_t ms = int64_t(settings.max_attempts) * settings.timeout_ms;
  for (uint32_t attempt = 1; attempt < settings.max_attempts; ++attempt) ms += int64_t(backoffMs(attempt));
  return ms;
}

WebhookSender::WebhookSender(uv_loop_t* loop, const config::AlertSettings& settings,
                             http_client::HttpClientSettings transport)
    : loop_(loop),
      url_(settings.webhook),
      auth_(settings.webhook_token.empty() ? "" : "Bearer " + settings.webhook_token),
      max_attempts_(settings.max_attempts),
      timeout_ms_(settings.timeout_ms),
      capacity_(settings.queue_capacity),
      client_(std::make_unique<http_client::HttpClient>(loop, std::move(transport))),
      retry_timer_(new uv_timer_t) {
  uv_timer_init(loop_, retry_timer_);
  retry_timer_->data = this;
}

WebhookSender::~WebhookSender() { shutdown(); }

void WebhookSender::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  if (in_flight_) client_->cancel(kOwner, transfer_id_);
  in_flight_ = false;
  client_->shutdown();
  uv_timer_stop(retry_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(retry_timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void WebhookSender::send(std::string body, std::string fingerprint, bool resolved) {
  if (!stopped_ && resolved && !queue_.empty() && queue_.size() >= capacity_) {
    // A lost resolved notification leaves the receiver showing the alert as firing for good,
    // while a lost firing one is repeated or resolved later: the resolved one takes the place
    // of a waiting firing one, its own alert's if there is one, else the oldest. The front is
    // in flight or waiting for its retry, so it stays.
    auto firing = queue_.end();
    for (auto it = queue_.begin() + 1; it != queue_.end(); ++it) {
      if (it->resolved) continue;
      if (firing == queue_.end()) firing = it;
      if (it->fingerprint == fingerprint) {
        firing = it;
        break;
      }
    }
    if (firing != queue_.end()) {
      ++counters_.dropped;
      ORLOG(LogLevel::kWarn, "alerts", "a firing notification was dropped for a resolved one: the webhook queue is full");
      std::string dropped = std::move(firing->fingerprint);
      queue_.erase(firing);
      lost(dropped, false);
    }
  }
  if (stopped_ || queue_.size() >= capacity_) {
    ++counters_.dropped;
    ORLOG(LogLevel::kWarn, "alerts",
          std::string("a notification was dropped: ") + (stopped_ ? "the daemon is stopping" : "the webhook queue is full"));
    if (!stopped_) lost(fingerprint, resolved);
    return;
  }
  // Appended after whatever is waiting, so a resolved notification always follows its alert's
  // firing ones.
  queue_.push_back({std::move(body), std::move(fingerprint), resolved});
  if (!in_flight_ && !waiting_) startNext();
}

void WebhookSender::startNext() {
  if (stopped_ || queue_.empty()) return;
  ++attempt_;
  const std::string& body = queue_.front().body;
  outrigger_http_header headers[2] = {{text("content-type"), text("application/json")},
                                      {text("authorization"), text(auth_)}};
  outrigger_http_request req{};
  req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
  req.method = text("POST");
  req.url = text(url_);
  req.headers = headers;
  req.header_count = auth_.empty() ? 1 : 2;
  req.body = text(body);
  req.connect_timeout_ms = std::min<uint32_t>(timeout_ms_, 5000);
  req.total_timeout_ms = timeout_ms_;
  static const outrigger_http_sink kSink = {OUTRIGGER_HEADER_INIT(outrigger_http_sink), nullptr, nullptr,
                                            &WebhookSender::onComplete};
  in_flight_ = client_->start(kOwner, 0, req, kSink, this, &transfer_id_) == OUTRIGGER_OK;
  if (!in_flight_) finished(false, true, /*spent=*/true);
}

void WebhookSender::onComplete(void* self, const outrigger_http_result* result) noexcept {
  auto* s = static_cast<WebhookSender*>(self);
  s->in_flight_ = false;
  s->client_->forget(kOwner, s->transfer_id_);
  if (result->error == OUTRIGGER_HTTP_E_CANCELLED || s->stopped_) return;
  int status = result->error == OUTRIGGER_HTTP_OK ? result->status : 0;
  bool ok = status >= 200 && status < 300;
  bool retry = !ok && (status == 0 || status == 408 || status == 429 || status >= 500);
  if (!ok) {
    ORLOG(LogLevel::kWarn, "alerts",
          "webhook attempt " + std::to_string(s->attempt_) + " failed: " +
              (status ? "HTTP " + std::to_string(status) : std::string(result->message.data, result->message.size)));
  }
  s->finished(ok, retry);
}

void WebhookSender::finished(bool delivered, bool retry, bool spent) {
  if (delivered) {
    ++counters_.delivered;
  } else if (retry && !spent && attempt_ < max_attempts_) {
    ++counters_.retries;
    uint64_t backoff_ms = backoffMs(attempt_);
    waiting_ = true;
    uv_timer_start(retry_timer_, &WebhookSender::onRetry, backoff_ms, 0);
    return;
  } else {
    ++counters_.failed;
    ORLOG(LogLevel::kError, "alerts",
          "a notification could not be delivered to the webhook after " + std::to_string(attempt_) + " attempts");
  }
  Queued done = std::move(queue_.front());
  queue_.pop_front();
  attempt_ = 0;
  if (!delivered && retry) lost(done.fingerprint, done.resolved);
  startNext();
}

void WebhookSender::lost(const std::string& fingerprint, bool resolved) {
  if (on_lost_ && !fingerprint.empty()) on_lost_(fingerprint, resolved);
}

void WebhookSender::onRetry(uv_timer_t* timer) {
  auto* s = static_cast<WebhookSender*>(timer->data);
  s->waiting_ = false;
  s->startNext();
}

}  // namespace outrigger::alerts
