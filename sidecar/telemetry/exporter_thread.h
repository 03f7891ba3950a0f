// The exporter thread: finished-request records reach exporter plugins here, off the request
// path. Workers submit without blocking; when the bounded queue is full the record is dropped
// and counted.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "event/event_loop.h"
#include "plugin/instance.h"
#include "telemetry/request_record.h"

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
  // [any] Calls flush on each exporter on the exporter thread.
  void flush(std::vector<std::shared_ptr<plugin::PluginInstance>> exporters);

  uint64_t exported() const { return exported_.load(); }
  uint64_t dropped() const { return loop_.droppedPosts(); }
  uint64_t failed() const { return failed_.load(); }

 private:
  void exportOne(const RequestRecord& record);

  event::EventLoop loop_;
  std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> failed_{0};
  bool started_ = false;
};

}  // namespace outrigger::telemetry
