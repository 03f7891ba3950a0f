// Getting encoded batches to the collector: one POST at a time, in order, never waiting.
//
// Trace batches queue in memory, bounded in spans. A batch the collector could not take for a
// reason that may pass (no connection, a timeout, 429, 502, 503, 504) is retried after a
// jittered exponential backoff, or after the collector's Retry-After. With a spool, that batch
// and every one queued behind it move to disk, and from then on new batches are appended there
// until the spool drains: the spool is sent first, oldest first, and survives a restart. A
// memory queue that fills up behind a slow collector moves to the spool the same way. Without a
// spool the failed batch stays at the head of the memory queue. Beyond the memory bound (no
// spool) or the spool's size the newest batch is dropped and counted; nothing ever blocks.
// Any other answer (400, 401, 413, 500 ...) rejects the batch: counted, logged, not retried.
// A 200 with partialSuccess counts its rejected spans and logs the collector's message.
//
// Metrics are cumulative, so only the latest unsent push is kept; a failed push is counted and
// the next one carries its values.
//
// Single-threaded: the instance's loop (the exporter thread) runs every call and callback.
#pragma once

#include <outrigger/plugin.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "spool.h"

namespace outrigger::otlp {

enum class Signal : uint8_t { kTraces = 1, kMetrics = 2 };

struct Batch {
  Signal signal = Signal::kTraces;
  uint32_t items = 0;  // spans (traces); 0 for metrics
  std::string body;    // as sent: gzipped when the exporter compresses
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
  // Starts a POST of `body`. On true, `done` runs exactly once, later (never inside this call).
  // False: it could not start (nothing runs); Delivery backs off and tries again.
  virtual bool post(Signal signal, const std::string& body, std::function<void(PostOutcome)> done) = 0;
  // Runs `fn` once after `delay_ms`, unless the instance is torn down first. False: no timer.
  virtual bool after(uint32_t delay_ms, std::function<void()> fn) = 0;
  virtual void log(outrigger_log_level level, const std::string& message) = 0;
};

struct DeliverySettings {
  uint64_t max_queue_spans = 65536;  // memory bound
  uint32_t initial_backoff_ms = 250;
  uint32_t max_backoff_ms = 30000;
  uint32_t max_retry_after_ms = 300000;  // a longer Retry-After is cut to this
  uint64_t seed = 1;
};

// Spans by what became of them. Every span submitted ends in exactly one of exported,
// rejected, dropped (or is still queued in memory or spooled); `spooled` counts the spans
// written to the spool, also those later exported.
struct DeliveryCounters {
  uint64_t exported = 0, rejected = 0, dropped = 0, spooled = 0;
  uint64_t retries = 0;              // POSTs that failed and will be tried again
  uint64_t metrics_failed = 0;       // metrics pushes lost (the next one carries their values)
  uint64_t rejected_batches = 0;
};

class Delivery {
 public:
  Delivery(DeliverySettings settings, DeliveryEnv* env) : settings_(settings), env_(env), rng_(settings.seed) {}

  // Gives the spool (it may open late: another instance held it). What it holds goes first.
  void attachSpool(std::unique_ptr<Spool> spool);
  bool hasSpool() const { return spool_ != nullptr; }
  const Spool* spool() const { return spool_.get(); }

  // Queues a sealed batch and starts sending if idle. Never blocks; may drop (counted).
  void submit(Batch batch);
  // Moves what is queued in memory to the spool (at shutdown, when no answer can come back any
  // more: a batch in flight too), so a restart sends it.
  void persist();
  // Sends what waits, unless a POST is in flight or a backoff is running (a periodic nudge for
  // when a POST or a timer could not be started).
  void poll() { pump(); }

  const DeliveryCounters& counters() const { return counters_; }
  uint64_t queuedSpans() const { return memory_spans_; }
  bool idle() const { return !in_flight_ && !waiting_; }

  // The delay before retry number `attempt` (1-based) without a Retry-After: equal jitter over
  // min(max, initial * 2^(attempt-1)).
  uint32_t backoffMs(uint32_t attempt);

 private:
  enum class Source { kMemory, kSpool, kMetrics };
  void pump();
  void send(Source source, Signal signal, uint32_t items, const std::string& body);
  void done(Source source, uint32_t items, const PostOutcome& outcome);
  void succeeded(Source source, uint32_t items, const PostOutcome& outcome);
  void failed(Source source, uint32_t items, const PostOutcome& outcome);
  void rejected(Source source, uint32_t items, const PostOutcome& outcome);
  void release(Source source);
  void spill(Batch batch);
  void moveToSpool(bool keep_in_flight);
  void retryLater(uint32_t delay_ms);

  DeliverySettings settings_;
  DeliveryEnv* env_;
  std::mt19937_64 rng_;
  std::unique_ptr<Spool> spool_;
  bool spooling_ = false;  // new trace batches go to the spool until it drains (a failure, or a full memory queue)
  std::deque<Batch> memory_;
  uint64_t memory_spans_ = 0;
  std::optional<Batch> metrics_;
  bool in_flight_ = false;
  Source in_flight_source_ = Source::kMemory;
  bool waiting_ = false;  // a backoff timer is set
  uint32_t attempt_ = 0;  // consecutive failures
  DeliveryCounters counters_;
};

}  // namespace outrigger::otlp
