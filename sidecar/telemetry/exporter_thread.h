// The exporter thread: finished-request records and feedback reach exporter plugins here, off
// the request path. Workers submit without blocking; when the bounded queue is full the record
// is dropped and counted (a request that began while it was full collected no trace attributes,
// and its record is dropped at the end). A record's trace (span ids, wall-clock starts, attributes a span's
// stage tells) is completed here, before the exporters see it (telemetry/span_trace.h).
//
// Records and feedback reach the thread through a lock-free ring (common/mpsc_ring.h), never the
// loop's locked post queue, so a worker never waits for the exporter thread: that is what lets it
// run at SCHED_IDLE, on CPU the workers leave. Records do not wake the thread one by one: at tens
// of thousands of requests a second the wake-ups would cost more than the exports. The first
// record after a quiet spell wakes it (as does a queue a quarter full); while records keep
// coming, a timer drains the queue every few milliseconds, and stops after 200 ms without one.
//
// Exporter instances belong to this thread's loop (ABI 1.2 instance loop access): adopt() binds
// them, with this thread's own HTTP client, so an exporter can batch on a timer and POST its
// batches. stop() retires them (transfers cancelled, final STALE calls) before the loop closes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/mpsc_ring.h"
#include "event/event_loop.h"
#include "http_client/http_client.h"
#include "plugin/instance.h"
#include "telemetry/request_record.h"
#include "telemetry/span_trace.h"

namespace outrigger::telemetry {

// How the exporter thread shares the CPU with the workers: kIdle is SCHED_IDLE (it runs only on
// CPU nothing else wants, so telemetry never delays a request; a host saturated for longer than
// the queue lasts sheds records, counted), kLow is nice 10, kNormal competes as an equal.
enum class ExporterPriority { kIdle, kLow, kNormal };

class ExporterThread {
 public:
  // `http`: the settings of the client exporters reach the network through (TLS, proxies, the
  // plain HTTP/1.1 transport), as a worker's.
  // `max_bytes`: what the queued records may hold together (recordBytes), past which a record
  // is dropped and counted as when the queue is full.
  explicit ExporterThread(size_t queue_capacity, http_client::HttpClientSettings http = {},
                          uint64_t max_bytes = 128ull << 20);
  ~ExporterThread();

  void start(ExporterPriority priority = ExporterPriority::kIdle);
  // Exports what is queued, retires the exporter instances' loop use (their transfers complete
  // cancelled, their timers and watches make their final calls), then stops the thread.
  void stop();

  // [any] Binds each exporter's instance loop to this thread's loop and HTTP client, so its
  // instance_post, timers, fd watches and transfers run here. Instances bound already are
  // skipped: call it with every snapshot's exporters, at start and on reload.
  void adopt(std::vector<std::shared_ptr<plugin::PluginInstance>> exporters);

  // [any] Never blocks. False (and counted) when the queue is full, or its bytes would pass
  // the bound.
  bool submit(std::shared_ptr<RequestRecord> record);
  // [any] Whether the queue is full now, by count or bytes. A worker asks when a request begins:
  // a record that would be shed needs no trace attributes collected along the way.
  bool full() const {
    return queued_.load(std::memory_order_relaxed) >= capacity_ ||
           queued_bytes_.load(std::memory_order_relaxed) >= max_bytes_;
  }
  // [any] Counts a record shed without being submitted.
  void countShed() { dropped_.fetch_add(1, std::memory_order_relaxed); }
  // [any] True, and the drop counted, when the queue is full now: a record built for submit()
  // would be dropped, so a worker on a saturated host asks first and skips building it.
  bool shedIfFull() {
    if (!full()) return false;
    countShed();
    return true;
  }
  // [any] Never blocks. Sends the feedback to every exporter of its chain that takes feedback
  // (export_feedback, ABI 1.2). False (and counted in feedbackDropped) when the queue is full.
  bool submitFeedback(std::shared_ptr<FeedbackRecord> feedback);
  // [any] Calls flush on each exporter on the exporter thread.
  void flush(std::vector<std::shared_ptr<plugin::PluginInstance>> exporters);

  uint64_t exported() const { return exported_.load(); }
  // Records and feedback submitted and not yet exported (the queue's depth, for /metrics).
  int64_t queued() const { return queued_.load(std::memory_order_relaxed); }
  int64_t queuedBytes() const { return queued_bytes_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(); }
  uint64_t feedbackExported() const { return feedback_exported_.load(); }
  uint64_t feedbackDropped() const { return feedback_dropped_.load(); }
  http_client::HttpClientCounters& httpClientCounters() { return http_client_->counters(); }

 private:
  // A record or a feedback, in the order workers submitted them.
  struct Queued {
    std::shared_ptr<RequestRecord> record;
    std::shared_ptr<FeedbackRecord> feedback;
    int64_t bytes = 0;
  };
  bool enqueue(Queued item);  // [any] false when full or stopping (the caller counts the drop)
  // Exporter thread: what the ring holds, at most `limit` items. Returns whether it stopped at
  // the limit with items left.
  bool exportQueued(int64_t limit = INT64_MAX);
  void exportOne(RequestRecord& record);
  void keepDraining();  // exporter thread: drain on the timer while records are queued
  static void onWake(uv_async_t* handle);
  static void onDrainTimer(uv_timer_t* timer);
  void exportFeedback(const FeedbackRecord& feedback);
  void retireInstanceLoops();  // exporter thread, or its loop not running

  // Before loop_: the loop closes them (stop()), and they must outlive the loop's last run.
  uv_async_t wake_;
  uv_timer_t drain_timer_;
  bool drain_timer_ready_ = false;  // exporter thread only
  int quiet_ticks_ = 0;             // exporter thread only: ticks since the last record
  // The drain timer is running (set and cleared on the exporter thread): a record need not wake
  // the thread, unless the queue is a quarter full.
  std::atomic<bool> timer_draining_{false};
  const int64_t capacity_;
  const int64_t max_bytes_;
  size_t wake_at_;  // queued records at which a record wakes the thread anyway
  MpscRing<Queued> ring_;
  event::EventLoop loop_;  // the exporters' loop; posts only for control (adopt, flush, stop)
  // After loop_: closed on it, before it. Exporter thread only once started.
  std::unique_ptr<http_client::HttpClient> http_client_;
  std::vector<std::shared_ptr<plugin::InstanceLoop>> bound_loops_;  // exporter thread only
  bool loops_retired_ = false;                                       // exporter thread only
  std::atomic<uint64_t> exported_{0};
  std::atomic<int64_t> queued_{0};  // in the ring or being pushed: records and feedback
  std::atomic<int64_t> queued_bytes_{0};  // what they hold (recordBytes)
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> feedback_exported_{0};
  std::atomic<uint64_t> feedback_dropped_{0};
  SpanIdSource span_ids_;  // exporter thread only
  bool started_ = false;
};

}  // namespace outrigger::telemetry
