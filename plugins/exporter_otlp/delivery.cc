#include "delivery.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>

#include "bounded_json.h"

namespace outrigger::otlp {
namespace {

// OTLP/HTTP: these may pass; every other failure status is final for the batch.
bool retryableStatus(int status) { return status == 429 || status == 502 || status == 503 || status == 504; }

// The rejected count and message of an OTLP partialSuccess, when the body carries one.
uint64_t partialRejections(const std::string& body, std::string* message) {
  rapidjson::Document d;
  if (body.empty() || !json::parse(body, &d) || !d.IsObject()) return 0;
  auto ps = d.FindMember("partialSuccess");
  if (ps == d.MemberEnd() || !ps->value.IsObject()) return 0;
  uint64_t n = 0;
  for (const char* key : {"rejectedSpans", "rejectedDataPoints"}) {
    auto v = ps->value.FindMember(key);
    if (v == ps->value.MemberEnd()) continue;
    if (v->value.IsUint64()) n = v->value.GetUint64();
    if (v->value.IsString()) {
      std::string_view s(v->value.GetString(), v->value.GetStringLength());
      std::from_chars(s.data(), s.data() + s.size(), n);
    }
  }
  auto m = ps->value.FindMember("errorMessage");
  if (m != ps->value.MemberEnd() && m->value.IsString()) message->assign(m->value.GetString(), m->value.GetStringLength());
  return n;
}

std::string describe(const PostOutcome& o) {
  if (!o.answered) return o.error.empty() ? std::string("no response") : o.error;
  std::string s = "HTTP " + std::to_string(o.status);
  if (!o.body.empty()) s += ": " + o.body.substr(0, 200);
  return s;
}

}  // namespace

void Delivery::attachSpool(std::unique_ptr<Spool> spool) {
  spool_ = std::move(spool);
  pump();
}

void Delivery::submit(Batch batch) {
  if (batch.signal == Signal::kMetrics) {
    metrics_ = std::move(batch);  // cumulative: the newest push covers an unsent older one
  } else if (spool_ && (spooling_ || !spool_->empty())) {
    spill(std::move(batch));
  } else if (memory_spans_ + batch.items > settings_.max_queue_spans) {
    if (spool_) {
      spooling_ = true;  // the collector keeps up too slowly: what waits goes to disk, in order
      moveToSpool(true);
      spill(std::move(batch));
    } else {
      counters_.dropped += batch.items;
    }
  } else {
    memory_spans_ += batch.items;
    memory_.push_back(std::move(batch));
  }
  pump();
}

void Delivery::spill(Batch batch) {
  Spool::Entry e{static_cast<uint8_t>(batch.signal), batch.items, std::move(batch.body)};
  switch (spool_->append(e)) {
    case Spool::Append::kOk:
      counters_.spooled += batch.items;
      return;
    case Spool::Append::kFull:
      counters_.dropped += batch.items;
      return;
    case Spool::Append::kError:
      counters_.dropped += batch.items;
      env_->log(OUTRIGGER_LOG_ERROR, "spool write failed; " + std::to_string(batch.items) + " spans dropped");
      return;
  }
}

void Delivery::persist() { moveToSpool(false); }

// `keep_in_flight`: a batch in flight stays in memory, for its answer to release.
void Delivery::moveToSpool(bool keep_in_flight) {
  if (!spool_) return;
  size_t keep = keep_in_flight && in_flight_ && in_flight_source_ == Source::kMemory ? 1 : 0;
  while (memory_.size() > keep) {
    Batch& b = memory_[keep];
    memory_spans_ -= b.items;
    spill(std::move(b));
    memory_.erase(memory_.begin() + static_cast<std::ptrdiff_t>(keep));
  }
}

void Delivery::pump() {
  if (in_flight_ || waiting_) return;
  if (spool_ && !spool_->empty()) {
    Spool::Entry e;
    if (spool_->front(&e)) return send(Source::kSpool, static_cast<Signal>(e.signal), e.items, e.body);
  }
  if (!memory_.empty()) return send(Source::kMemory, Signal::kTraces, memory_.front().items, memory_.front().body);
  if (metrics_) return send(Source::kMetrics, Signal::kMetrics, 0, metrics_->body);
}

void Delivery::send(Source source, Signal signal, uint32_t items, const std::string& body) {
  in_flight_ = true;
  in_flight_source_ = source;
  bool started = env_->post(signal, body, [this, source, items](PostOutcome o) { done(source, items, o); });
  if (!started) {
    in_flight_ = false;
    retryLater(backoffMs(++attempt_));
  }
}

void Delivery::done(Source source, uint32_t items, const PostOutcome& o) {
  in_flight_ = false;
  if (o.answered && o.status >= 200 && o.status < 300) return succeeded(source, items, o);
  if (!o.answered || retryableStatus(o.status)) return failed(source, items, o);
  rejected(source, items, o);
}

void Delivery::succeeded(Source source, uint32_t items, const PostOutcome& o) {
  attempt_ = 0;
  std::string message;
  uint64_t refused = std::min<uint64_t>(partialRejections(o.body, &message), items);
  if (refused || !message.empty()) {
    env_->log(OUTRIGGER_LOG_WARN, "collector accepted part of a batch: " + std::to_string(refused) + " rejected" +
                                      (message.empty() ? std::string() : ": " + message));
  }
  counters_.exported += items - refused;
  counters_.rejected += refused;
  release(source);
  if (spool_ && spool_->empty()) spooling_ = false;
  pump();
}

void Delivery::failed(Source source, uint32_t items, const PostOutcome& o) {
  ++counters_.retries;
  uint32_t delay = o.retry_after_ms ? std::min(o.retry_after_ms, settings_.max_retry_after_ms) : backoffMs(++attempt_);
  if (!o.cancelled && (attempt_ <= 1 || o.retry_after_ms)) {
    env_->log(OUTRIGGER_LOG_WARN, "collector unavailable (" + describe(o) + "); retrying in " +
                                      std::to_string(delay) + " ms" + (spool_ ? ", spooling meanwhile" : ""));
  }
  if (source == Source::kMetrics) {
    ++counters_.metrics_failed;
    metrics_.reset();
  } else if (source == Source::kMemory && spool_) {
    spooling_ = true;
    moveToSpool(false);
  }
  (void)items;
  retryLater(delay);
}

void Delivery::rejected(Source source, uint32_t items, const PostOutcome& o) {
  attempt_ = 0;
  counters_.rejected += items;
  ++counters_.rejected_batches;
  env_->log(OUTRIGGER_LOG_ERROR, std::string("collector rejected a ") +
                                     (source == Source::kMetrics ? "metrics push" : std::to_string(items) + "-span batch") +
                                     " (" + describe(o) + "); not retried");
  release(source);
  pump();
}

void Delivery::release(Source source) {
  switch (source) {
    case Source::kSpool:
      spool_->pop();
      return;
    case Source::kMemory:
      memory_spans_ -= memory_.front().items;
      memory_.pop_front();
      return;
    case Source::kMetrics:
      metrics_.reset();
      return;
  }
}

void Delivery::retryLater(uint32_t delay_ms) {
  // Without a timer (torn down, or the loop not bound yet) the next submit or poll retries.
  waiting_ = env_->after(delay_ms, [this] {
    waiting_ = false;
    pump();
  });
}

uint32_t Delivery::backoffMs(uint32_t attempt) {
  uint64_t cap = settings_.initial_backoff_ms;
  for (uint32_t i = 1; i < attempt && cap < settings_.max_backoff_ms; ++i) cap *= 2;
  cap = std::min<uint64_t>(cap, settings_.max_backoff_ms);
  uint64_t half = cap / 2;
  return static_cast<uint32_t>(half + (cap - half ? rng_() % (cap - half + 1) : 0));
}

}  // namespace outrigger::otlp
