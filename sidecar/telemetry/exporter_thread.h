// The exporter thread: finished-request records and feedback reach exporter plugins here, off
// the request path. Workers submit without blocking; when the bounded queue is full the record
// is dropped and counted. A record's trace (span ids, wall-clock starts, attributes a span's
// stage tells) is completed here, before the exporters see it (telemetry/span_trace.h).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "event/event_loop.h"
#include "plugin/instance.h"
#include "telemetry/request_record.h"
#include "telemetry/span_trace.h"

namespace outrigger::telemetry {

class ExporterThread {
 public:
  explicit ExporterThread(size_t queue_capacity);
  ~ExporterThread();

  void start();
  // Flushes what is queued, then stops the thread.
  void stop();

  // [any] Never blocks. False (and counted) when the queue is full.
  bool submit(std::shared_ptr<RequestRecord> record);
  // [any] Never blocks. Sends the feedback to every exporter of its chain that takes feedback
  // (export_feedback, ABI 1.2). False (and counted in feedbackDropped) when the queue is full.
  bool submitFeedback(std::shared_ptr<FeedbackRecord> feedback);
  // [any] Calls flush on each exporter on the exporter thread.
  void flush(std::vector<std::shared_ptr<plugin::PluginInstance>> exporters);

  uint64_t exported() const { return exported_.load(); }
  uint64_t dropped() const { return loop_.droppedPosts(); }
  uint64_t failed() const { return failed_.load(); }
  uint64_t feedbackExported() const { return feedback_exported_.load(); }
  uint64_t feedbackDropped() const { return feedback_dropped_.load(); }

 private:
  void exportOne(RequestRecord& record);
  void exportFeedback(const FeedbackRecord& feedback);

  event::EventLoop loop_;
  std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> feedback_exported_{0};
  std::atomic<uint64_t> feedback_dropped_{0};
  SpanIdSource span_ids_;  // exporter thread only
  bool started_ = false;
};

}  // namespace outrigger::telemetry
