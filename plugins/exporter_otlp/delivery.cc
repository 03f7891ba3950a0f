#include "delivery.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <vector>

#include "bounded_json.h"
#include "otlp_proto.h"

namespace outrigger::otlp {
namespace {

// OTLP/HTTP: these may pass; every other failure status is final for the batch.
bool retryableStatus(int status) { return status == 429 || status == 502 || status == 503 || status == 504; }

// The rejected count and message of an OTLP partial success, when the answer carries one. The
// collector answers in the encoding it was sent.
uint64_t partialRejections(Encoding encoding, const std::string& body, std::string* message) {
  if (encoding == Encoding::kProtobuf) return pb::partialRejections(body, message);
  rapidjson::Document d;
  if (body.empty() || !json::parse(body, &d) || !d.IsObject()) return 0;
  auto ps = d.FindMember("partialSuccess");
  if (ps == d.MemberEnd() || !ps->value.IsObject()) return 0;
  uint64_t n = 0;
  for (const char* key : {"rejectedSpans", "rejectedLogRecords", "rejectedDataPoints"}) {
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

// A collector's text for a log line: cut before escaping, so no escape is cut in half; escaped,
// so no answer writes lines of its own.
std::string quoted(std::string_view said) { return pb::printable(said.substr(0, 200)); }

const char* itemName(Signal signal) { return signal == Signal::kLogs ? "feedback records" : "spans"; }

// What a failed POST's answer said, for the log. A collector answers an error in the encoding it
// was sent: a protobuf google.rpc.Status gives its message; other bytes are shown printable.
std::string describe(const PostOutcome& o, Encoding encoding) {
  if (!o.answered) return o.error.empty() ? std::string("no response") : o.error;
  std::string s = "HTTP " + std::to_string(o.status);
  std::string said = encoding == Encoding::kProtobuf ? pb::statusMessage(o.body) : std::string();
  if (said.empty()) said = o.body;
  if (!said.empty()) s += ": " + quoted(said);
  return s;
}

}  // namespace

uint32_t retryAfterMs(std::string_view v, uint32_t cap_ms) {
  if (v.empty()) return 0;
  uint64_t seconds = 0;
  if (v.find_first_not_of("0123456789") == std::string_view::npos) {
    // More digits than 64 bits hold ask for a pause as long as any other beyond the cap.
    if (std::from_chars(v.data(), v.data() + v.size(), seconds).ec != std::errc()) return cap_ms;
  } else {
    std::tm tm{};
    std::string text(v);
    if (!strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) return 0;
    time_t at = timegm(&tm);
    time_t now = std::time(nullptr);
    if (at <= now) return 0;
    seconds = static_cast<uint64_t>(at - now);
  }
  // Compared before multiplying: seconds * 1000 may not fit in 32 bits, or even 64.
  return seconds > cap_ms / 1000 ? cap_ms : static_cast<uint32_t>(seconds * 1000);
}

void Delivery::attachSpool(std::unique_ptr<Spool> spool) {
  spool_ = std::move(spool);
  pump();
}

void Delivery::submit(Batch batch) {
  if (batch.signal == Signal::kMetrics) {
    metrics_ = std::move(batch);  // cumulative: the newest push covers an unsent older one
  } else if (spool_ && (spooling_ || !spool_->empty())) {
    spill(std::move(batch));
  } else if (!fitsInMemory(batch)) {
    if (spool_) {
      spooling_ = true;  // the collector keeps up too slowly: what waits goes to disk, in order
      moveToSpool();
      spill(std::move(batch));
    } else {
      tally(batch.signal).dropped += batch.items;
    }
  } else {
    holdInMemory(batch);
    memory_.push_back({next_seq_++, std::move(batch)});
  }
  pump();
}

// A batch larger than the whole byte bound still goes into an empty queue, so no batch is too
// large ever to be sent.
bool Delivery::fitsInMemory(const Batch& batch) const {
  if (memory_items_ + batch.items > settings_.max_queue_spans) return false;
  return memory_bytes_ == 0 || memory_bytes_ + batch.body.size() <= settings_.max_queue_bytes;
}

void Delivery::holdInMemory(const Batch& batch) {
  memory_items_ += batch.items;
  memory_bytes_ += batch.body.size();
}

void Delivery::releaseFromMemory(const Batch& batch) {
  memory_items_ -= batch.items;
  memory_bytes_ -= batch.body.size();
}

void Delivery::spill(Batch batch) {
  ItemCounters& t = tally(batch.signal);
  env_->packForSpool(&batch.body);
  Spool::Entry e{static_cast<uint8_t>(batch.signal), batch.items, std::move(batch.body),
                 static_cast<uint8_t>(batch.encoding)};
  switch (spool_->append(e)) {
    case Spool::Append::kOk:
      t.spooled += batch.items;
      return;
    case Spool::Append::kFull:
      t.dropped += batch.items;
      return;
    case Spool::Append::kError:
      t.dropped += batch.items;
      spoolFailed(batch);
      return;
  }
}

// A disk that is full fails every append: the first failure of a spooling spell is logged, the
// others are counted for the exporter's periodic summary.
void Delivery::spoolFailed(const Batch& batch) {
  ++counters_.spool_write_failures;
  if (spool_failure_logged_) return;
  spool_failure_logged_ = true;
  env_->log(OUTRIGGER_LOG_ERROR, "spool write failed (" + std::string(std::strerror(spool_->lastError())) + "); " +
                                     std::to_string(batch.items) + " " + itemName(batch.signal) +
                                     " dropped; further failures are counted in the summary");
}

// The batches in flight from memory are older than those still queued, so they go first.
void Delivery::persist() {
  std::vector<Flight*> flying;
  for (Flight& f : other_flights_) {
    if (f.source == Source::kMemory && !f.persisted) flying.push_back(&f);
  }
  std::sort(flying.begin(), flying.end(), [](const Flight* a, const Flight* b) { return a->seq < b->seq; });
  for (Flight* f : flying) {
    f->persisted = true;
    releaseFromMemory(f->batch);
    keepAtShutdown(std::move(f->batch));
  }
  while (!memory_.empty()) {
    Batch b = std::move(memory_.front().batch);
    memory_.pop_front();
    releaseFromMemory(b);
    keepAtShutdown(std::move(b));
  }
}

// Nothing sends it any more: the spool keeps it for the next start, or it is lost, and counted.
void Delivery::keepAtShutdown(Batch batch) {
  if (spool_) spill(std::move(batch));
  else tally(batch.signal).dropped += batch.items;
}

void Delivery::moveToSpool() {
  if (!spool_) return;
  while (!memory_.empty()) {
    Batch b = std::move(memory_.front().batch);
    memory_.pop_front();
    releaseFromMemory(b);
    spill(std::move(b));
  }
}

void Delivery::pump() {
  while (!waiting_ && in_flight_ < settings_.max_in_flight && startNext()) {
  }
}

// Starts one POST: the metrics push (one small POST per interval, which a backlog would
// otherwise hold back for as long as it lasts), a spooled batch to send again, then the spool,
// then memory. False when nothing was started.
bool Delivery::startNext() {
  if (metrics_ && !metrics_in_flight_) {
    metrics_in_flight_ = true;
    other_flights_.push_back({next_flight_id_++, Source::kMetrics, std::move(*metrics_)});
    metrics_.reset();
    return send(other_flights_.back().id);
  }
  for (Flight& f : spool_flights_) {
    if (!f.sending && !f.acked) return send(f.id);
  }
  Spool::Entry e;
  if (spool_ && spool_->next(&e)) {
    Signal signal = e.signal == static_cast<uint8_t>(Signal::kLogs) ? Signal::kLogs : Signal::kTraces;
    // The spool hands out only encodings this build knows (it skips the others).
    spool_flights_.push_back(
        {next_flight_id_++, Source::kSpool, Batch{signal, e.items, std::move(e.body), static_cast<Encoding>(e.encoding)}});
    return send(spool_flights_.back().id);
  }
  if (!memory_.empty()) {
    Queued q = std::move(memory_.front());
    memory_.pop_front();
    other_flights_.push_back({next_flight_id_++, Source::kMemory, std::move(q.batch), q.seq});
    return send(other_flights_.back().id);
  }
  return false;
}

Delivery::Flight* Delivery::find(uint64_t id) {
  for (auto* flights : {&spool_flights_, &other_flights_}) {
    for (Flight& f : *flights) {
      if (f.id == id) return &f;
    }
  }
  return nullptr;
}

void Delivery::erase(uint64_t id) {
  auto it = std::find_if(other_flights_.begin(), other_flights_.end(), [id](const Flight& f) { return f.id == id; });
  if (it != other_flights_.end()) other_flights_.erase(it);
}

bool Delivery::send(uint64_t id) {
  Flight& f = *find(id);
  f.sending = true;
  ++in_flight_;
  if (env_->post(f.batch, [this, id](PostOutcome o) { done(id, o); })) {
    counters_.most_in_flight = std::max(counters_.most_in_flight, in_flight_);
    return true;
  }
  // It could not start: the batch waits where it was, and everything waits for the backoff.
  --in_flight_;
  f.sending = false;
  if (f.source == Source::kMemory) {
    requeue(std::move(f.batch), f.seq);
    erase(id);
  } else if (f.source == Source::kMetrics) {
    if (!metrics_) metrics_ = std::move(f.batch);
    metrics_in_flight_ = false;
    erase(id);
  }
  retryLater(backoffMs(++attempt_), false);
  return false;
}

void Delivery::requeue(Batch batch, uint64_t seq) {
  auto at = std::find_if(memory_.begin(), memory_.end(), [seq](const Queued& q) { return q.seq > seq; });
  memory_.insert(at, Queued{seq, std::move(batch)});
}

void Delivery::done(uint64_t id, const PostOutcome& o) {
  --in_flight_;
  Flight* f = find(id);
  if (!f) return;
  f->sending = false;
  if (f->source == Source::kMetrics) metrics_in_flight_ = false;
  if (f->persisted) {
    erase(id);  // already in the spool: the next start sends it
  } else if (o.answered && o.status >= 200 && o.status < 300) {
    succeeded(*f, o);
  } else if (!o.answered || retryableStatus(o.status)) {
    failed(*f, o);
  } else {
    rejected(*f, o);
  }
  pump();
}

void Delivery::succeeded(Flight& f, const PostOutcome& o) {
  attempt_ = 0;
  throttle_logged_ = false;
  std::string message;
  uint32_t items = f.batch.items;
  uint64_t refused = std::min<uint64_t>(partialRejections(f.batch.encoding, o.body, &message), items);
  if (refused || !message.empty()) {
    env_->log(OUTRIGGER_LOG_WARN, "collector accepted part of a batch: " + std::to_string(refused) + " rejected" +
                                      (message.empty() ? std::string() : ": " + quoted(message)));
  }
  ItemCounters& t = tally(f.batch.signal);
  t.exported += items - refused;
  t.rejected += refused;
  finish(f);
  if (spool_ && spool_->empty()) {
    spooling_ = false;
    spool_failure_logged_ = false;  // the spell is over: the next failing write is news again
  }
}

// Everything pauses until the backoff ends; POSTs under way finish meanwhile. One backoff step
// per pause, however many POSTs failed in it; a Retry-After always has the last word.
void Delivery::failed(Flight& f, const PostOutcome& o) {
  ++counters_.retries;
  bool first = !waiting_;
  bool throttled = o.retry_after_ms != 0;
  if (first && !throttled) ++attempt_;
  uint32_t delay = throttled ? std::min(o.retry_after_ms, settings_.max_retry_after_ms) : backoffMs(std::max(attempt_, 1u));
  if (throttled) ++counters_.throttled;
  if (!o.cancelled) logFailure(f, o, delay, first, throttled);
  uint64_t id = f.id;
  if (f.source == Source::kMetrics) {
    ++counters_.metrics_failed;
    erase(id);
  } else if (f.source == Source::kMemory) {
    Batch b = std::move(f.batch);
    uint64_t seq = f.seq;
    erase(id);
    if (spool_) {
      spooling_ = true;
      releaseFromMemory(b);
      spill(std::move(b));
      moveToSpool();
    } else {
      requeue(std::move(b), seq);  // still counted in memory_items_
    }
  }  // a spooled batch stays in spool_flights_ and is sent again first
  if (first || throttled) retryLater(delay, !first);
}

// An outage is logged as it begins, and a throttling collector at its first Retry-After; until
// a POST succeeds again the failures are counted (retries, throttled pauses) and the exporter's
// periodic summary reports them, however many POSTs fail meanwhile.
void Delivery::logFailure(const Flight& f, const PostOutcome& o, uint32_t delay_ms, bool first, bool throttled) {
  std::string why = describe(o, f.batch.encoding);
  std::string meanwhile = spool_ ? ", spooling meanwhile" : "";
  if (throttled && !throttle_logged_) {
    throttle_logged_ = true;
    env_->log(OUTRIGGER_LOG_WARN, "collector is throttling (" + why + "); pausing " + std::to_string(delay_ms) +
                                      " ms as its Retry-After asks" + meanwhile +
                                      "; further pauses are counted in the summary");
  } else if (!throttled && first && attempt_ <= 1) {
    env_->log(OUTRIGGER_LOG_WARN, "collector unavailable (" + why + "); retrying in " + std::to_string(delay_ms) +
                                      " ms" + meanwhile);
  }
}

void Delivery::rejected(Flight& f, const PostOutcome& o) {
  attempt_ = 0;
  uint32_t items = f.batch.items;
  tally(f.batch.signal).rejected += items;
  ++counters_.rejected_batches;
  std::string what = f.source == Source::kMetrics ? std::string("metrics push")
                                                    : std::to_string(items) + "-" +
                                                          (f.batch.signal == Signal::kLogs ? "record feedback" : "span") + " batch";
  env_->log(OUTRIGGER_LOG_ERROR, "collector rejected a " + what + " (" + describe(o, f.batch.encoding) + "); not retried");
  finish(f);
}

// The batch is done with (exported or rejected).
void Delivery::finish(Flight& f) {
  if (f.source == Source::kSpool) {
    f.acked = true;
    f.batch.body = std::string();  // it may wait for an older batch's answer: only its place is kept
    popAcknowledged();
    return;
  }
  if (f.source == Source::kMemory) releaseFromMemory(f.batch);
  erase(f.id);
}

// The spool is acknowledged oldest first: a batch answered before an older one waits for it.
void Delivery::popAcknowledged() {
  while (!spool_flights_.empty() && spool_flights_.front().acked) {
    spool_->pop();
    spool_flights_.pop_front();
  }
}

// Without a timer (torn down, or the loop not bound yet) the next submit or poll retries.
// `replace`: a newer Retry-After overrides the pause already running.
void Delivery::retryLater(uint32_t delay_ms, bool replace) {
  if (waiting_ && !replace) return;
  uint64_t generation = ++timer_generation_;
  waiting_ = env_->after(delay_ms, [this, generation] {
    if (generation != timer_generation_) return;
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
