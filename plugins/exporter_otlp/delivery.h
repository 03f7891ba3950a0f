// Getting encoded batches to the collector: up to max_in_flight POSTs at once, never waiting.
//
// Trace (and feedback log) batches queue in memory, bounded in items and in encoded bytes (large
// prompts make a span weigh megabytes); a batch counts against both bounds until its POST is
// answered. A batch the collector could not take for a reason that may pass (no connection, a
// timeout, 429, 502, 503, 504) is retried after a jittered exponential backoff, or after the
// collector's Retry-After; meanwhile no POST starts (those under way finish). With a spool, that
// batch and every one queued behind it move to disk, and from then on new batches are appended
// there until the spool drains: the spool is sent first, oldest first, and survives a restart. A memory queue that fills up behind a slow collector moves to
// the spool the same way. Without a spool the failed batch goes back to the head of the memory
// queue. Beyond the memory bound (no spool) or the spool's size the newest batch is dropped and
// counted; nothing ever blocks. Any other answer (400, 401, 413, 500 ...) rejects the batch:
// counted, logged, not retried. A 200 with a partial success (partialSuccess in JSON, field 1 of
// the Export*ServiceResponse in protobuf) counts the collector's rejections.
//
// Logging: an outage when it begins, a throttling collector at its first Retry-After, a spool
// that cannot be written once per spooling spell (with its errno); what follows goes only to the
// counters, which the exporter logs in its periodic summary.
//
// Order: batches leave in the order they were made (memory) or written (spool), but with
// several POSTs in flight they may arrive out of order, and a batch whose POST failed while
// later ones were under way is retried after them. The spool is acknowledged oldest first: its
// cursor never passes a batch still in flight, so a restart resends what was unacknowledged.
//
// Metrics are cumulative, so only the latest unsent push is kept (one in flight at a time, ahead
// of any backlog); a failed push is counted and the next one carries its values.
//
// Single-threaded: the instance's loop (the exporter thread) runs every call and callback.
#pragma once

#include <outrigger/plugin.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "otlp_encoding.h"
#include "spool.h"

namespace outrigger::otlp {

enum class Signal : uint8_t { kTraces = 1, kMetrics = 2, kLogs = 3 };

struct Batch {
  Signal signal = Signal::kTraces;
  uint32_t items = 0;  // spans (traces) or log records (logs); 0 for metrics
  std::string body;    // as sent: gzipped when the exporter compresses
  Encoding encoding = Encoding::kProtobuf;  // of the body before any gzip: its Content-Type
};

// What became of one POST.
struct PostOutcome {
  bool answered = false;        // a response arrived; `status` is its HTTP status
  int status = 0;
  uint32_t retry_after_ms = 0;  // the response's Retry-After; 0: none
  std::string body;             // the response body (bounded)
  std::string error;            // why no response arrived
  bool cancelled = false;       // the instance is being torn down: no retry is possible
};

// What Delivery needs from its surroundings; the plugin implements it over the host.
class DeliveryEnv {
 public:
  virtual ~DeliveryEnv() = default;
  // Starts a POST of the batch's body. On true, `done` runs exactly once, later (never inside
  // this call). False: it could not start (nothing runs); Delivery backs off and tries again.
  virtual bool post(const Batch& batch, std::function<void(PostOutcome)> done) = 0;
  // Runs `fn` once after `delay_ms`, unless the instance is torn down first. False: no timer.
  virtual bool after(uint32_t delay_ms, std::function<void()> fn) = 0;
  virtual void log(outrigger_log_level level, const std::string& message) = 0;
  // Readies a body for the spool (the exporter gzips one it sent plain), so the spool's bound
  // holds as many items whatever the POSTs' encoding.
  virtual void packForSpool(std::string*) {}
};

// A Retry-After longer than this is cut to it.
constexpr uint32_t kMaxRetryAfterMs = 300000;

// A Retry-After header's pause in ms, as delay-seconds or an HTTP-date, at most `cap_ms`; 0 when
// absent or unreadable.
uint32_t retryAfterMs(std::string_view value, uint32_t cap_ms = kMaxRetryAfterMs);

struct DeliverySettings {
  uint64_t max_queue_spans = 65536;  // memory bound, in spans and log records, in flight included
  uint64_t max_queue_bytes = 64ull << 20;  // memory bound in encoded bytes, in flight included
  uint32_t max_in_flight = 4;        // POSTs under way at once
  uint32_t initial_backoff_ms = 250;
  uint32_t max_backoff_ms = 30000;
  uint32_t max_retry_after_ms = kMaxRetryAfterMs;  // a longer Retry-After is cut to this
  uint64_t seed = 1;
};

// Items (spans, or log records) by what became of them. Every item submitted ends in exactly
// one of exported, rejected, dropped (or is still queued in memory or spooled); `spooled` counts
// the items written to the spool, also those later exported.
struct ItemCounters {
  uint64_t exported = 0, rejected = 0, dropped = 0, spooled = 0;
};

struct DeliveryCounters {
  ItemCounters spans;                // trace batches
  ItemCounters logs;                 // feedback log records
  uint64_t retries = 0;              // POSTs that failed and will be tried again
  uint64_t metrics_failed = 0;       // metrics pushes lost (the next one carries their values)
  uint64_t rejected_batches = 0;
  uint64_t throttled = 0;             // pauses a collector's Retry-After asked for
  uint64_t spool_write_failures = 0;  // batches the spool could not write (dropped, in `dropped`)
  uint32_t most_in_flight = 0;       // the most POSTs that were under way at once
};

class Delivery {
 public:
  Delivery(DeliverySettings settings, DeliveryEnv* env) : settings_(settings), env_(env), rng_(settings.seed) {
    settings_.max_in_flight = std::max<uint32_t>(settings_.max_in_flight, 1);
  }

  // Gives the spool (it may open late: another instance held it). What it holds goes first.
  void attachSpool(std::unique_ptr<Spool> spool);
  bool hasSpool() const { return spool_ != nullptr; }
  const Spool* spool() const { return spool_.get(); }

  // Queues a sealed batch and starts sending if a slot is free. Never blocks; may drop (counted).
  void submit(Batch batch);
  // At shutdown, when no answer can come back any more: moves what is queued in memory to the
  // spool, the batches in flight first, so a restart sends it; without a spool counts it all
  // dropped. Answers that still arrive for them are ignored.
  void persist();
  // Starts what waits, as far as free slots and a running backoff allow (a periodic nudge for
  // when a POST or a timer could not be started).
  void poll() { pump(); }

  const DeliveryCounters& counters() const { return counters_; }
  uint64_t queuedSpans() const { return memory_items_; }
  uint64_t queuedBytes() const { return memory_bytes_; }
  uint32_t inFlight() const { return in_flight_; }
  bool idle() const { return in_flight_ == 0 && !waiting_; }

  // The delay before retry number `attempt` (1-based) without a Retry-After: equal jitter over
  // min(max, initial * 2^(attempt-1)).
  uint32_t backoffMs(uint32_t attempt);

 private:
  enum class Source { kMemory, kSpool, kMetrics };
  struct Queued {
    uint64_t seq;
    Batch batch;
  };
  // A batch whose POST started: kept until its answer, to requeue, spool or resend it.
  struct Flight {
    uint64_t id;
    Source source;
    Batch batch;
    uint64_t seq = 0;       // memory batches: the order they were submitted in
    bool sending = true;    // false: a spooled batch waiting to be sent again after a failure
    bool acked = false;     // spooled: answered; popped once every older one is
    bool persisted = false; // moved to the spool at shutdown: its answer no longer counts
  };

  void pump();
  bool startNext();
  bool send(uint64_t id);
  Flight* find(uint64_t id);
  void erase(uint64_t id);
  void done(uint64_t id, const PostOutcome& outcome);
  void succeeded(Flight& flight, const PostOutcome& outcome);
  void failed(Flight& flight, const PostOutcome& outcome);
  void rejected(Flight& flight, const PostOutcome& outcome);
  void finish(Flight& flight);
  void requeue(Batch batch, uint64_t seq);
  void popAcknowledged();
  ItemCounters& tally(Signal signal) { return signal == Signal::kLogs ? counters_.logs : counters_.spans; }
  bool fitsInMemory(const Batch& batch) const;
  void holdInMemory(const Batch& batch);
  void releaseFromMemory(const Batch& batch);
  void spill(Batch batch);
  void spoolFailed(const Batch& batch);
  void keepAtShutdown(Batch batch);
  void moveToSpool();
  void logFailure(const Flight& flight, const PostOutcome& outcome, uint32_t delay_ms, bool first, bool throttled);
  void retryLater(uint32_t delay_ms, bool replace);

  DeliverySettings settings_;
  DeliveryEnv* env_;
  std::mt19937_64 rng_;
  std::unique_ptr<Spool> spool_;
  bool spooling_ = false;  // new batches go to the spool until it drains (a failure, or a full memory queue)
  std::deque<Queued> memory_;       // waiting, in submission order
  uint64_t memory_items_ = 0;       // queued and in flight from memory
  uint64_t memory_bytes_ = 0;       // their bodies
  uint64_t next_seq_ = 0;
  std::optional<Batch> metrics_;    // the newest unsent push
  std::deque<Flight> spool_flights_;   // read from the spool, oldest first, until popped
  std::deque<Flight> other_flights_;   // memory batches and the metrics push in flight
  uint64_t next_flight_id_ = 1;
  uint32_t in_flight_ = 0;
  bool metrics_in_flight_ = false;
  bool waiting_ = false;        // a backoff timer is set: no POST starts
  uint64_t timer_generation_ = 0;
  uint32_t attempt_ = 0;        // consecutive failed pauses
  bool throttle_logged_ = false;  // since the last success: the first Retry-After was logged
  bool spool_failure_logged_ = false;  // in this spooling spell: a failed write was logged
  DeliveryCounters counters_;
};

}  // namespace outrigger::otlp
