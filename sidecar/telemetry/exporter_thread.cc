#include "telemetry/exporter_thread.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "chain/chain.h"
#include "telemetry/record_bytes.h"
#include "telemetry/record_view.h"

namespace outrigger::telemetry {

namespace {
constexpr uint64_t kDrainIntervalMs = 5;
constexpr int kQuietTicks = 40;  // 200 ms without a record stops the drain timer
}  // namespace

ExporterThread::ExporterThread(size_t queue_capacity, http_client::HttpClientSettings http, uint64_t max_bytes)
    : capacity_(static_cast<int64_t>(std::max<size_t>(1, queue_capacity))),
      max_bytes_(static_cast<int64_t>(std::min<uint64_t>(max_bytes, uint64_t{1} << 62))),
      wake_at_(std::max<size_t>(1, queue_capacity / 4)),
      ring_(std::max<size_t>(1, queue_capacity)),
      loop_(/*index=*/0xff),
      http_client_(std::make_unique<http_client::HttpClient>(loop_.loop(), std::move(http))),
      span_ids_((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {
  uv_async_init(loop_.loop(), &wake_, &ExporterThread::onWake);
  wake_.data = this;
  // After every record queued before stop(): the exporters see them before their loop use ends.
  // The instances' transfers are aborted first (their sinks hear E_CANCELLED), then the
  // client's own connections, polls and timer go, before the loop closes whatever is left.
  loop_.setBeforeClose([this] {
    exportQueued();
    retireInstanceLoops();
    http_client_->shutdown();
  });
}

ExporterThread::~ExporterThread() {
  stop();
  // Records that raced with stop() were never exported: counted, as any drop.
  for (Queued item; ring_.pop(&item);) (item.record ? dropped_ : feedback_dropped_).fetch_add(1);
  // Never started: nothing ran on the loop, so the instances are retired here, off it, and the
  // wake-up handle is closed for the loop's own teardown.
  retireInstanceLoops();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&wake_))) uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
}

void ExporterThread::start(ExporterPriority priority) {
  if (started_) return;
  started_ = true;
  // Linux threads have their own scheduling policy and nice value; set on the thread itself.
  if (priority == ExporterPriority::kLow) {
    loop_.post([] { ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10); });
  } else if (priority == ExporterPriority::kIdle) {
    loop_.post([] {
      sched_param param{};
      pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
    });
  }
  loop_.startThread();
}

void ExporterThread::stop() {
  if (!started_) return;
  started_ = false;
  loop_.stop();  // runs the loop's before-close step (see the constructor)
  loop_.join();
}

void ExporterThread::adopt(std::vector<std::shared_ptr<plugin::PluginInstance>> exporters) {
  loop_.post([this, exporters = std::move(exporters)] {
    if (loops_retired_) return;
    std::erase_if(bound_loops_, [](const auto& l) { return l->retired(); });
    for (const auto& e : exporters) {
      const std::shared_ptr<plugin::InstanceLoop>& l = e->instanceLoop();
      if (l->bind(&loop_, http_client_.get())) bound_loops_.push_back(l);
    }
  });
}

void ExporterThread::retireInstanceLoops() {
  loops_retired_ = true;
  std::vector<std::shared_ptr<plugin::InstanceLoop>> bound;
  bound.swap(bound_loops_);
  for (const auto& l : bound) {
    l->retire();
    l->runDeferredTeardown();
  }
}

bool ExporterThread::submit(std::shared_ptr<RequestRecord> record) {
  auto bytes = static_cast<int64_t>(recordBytes(*record));
  if (enqueue(Queued{std::move(record), nullptr, bytes})) return true;
  dropped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

bool ExporterThread::submitFeedback(std::shared_ptr<FeedbackRecord> feedback) {
  auto bytes = static_cast<int64_t>(feedbackBytes(*feedback));
  if (enqueue(Queued{nullptr, std::move(feedback), bytes})) return true;
  feedback_dropped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// The count goes up before the push, so the ring never holds more than capacity_ (its pushes
// cannot fail) and a drain that finds a cell not yet published sees the count and comes back.
// The bytes are reserved the same way; a record larger than the whole bound still goes into an
// empty queue, so no record is too large ever to be exported.
bool ExporterThread::enqueue(Queued item) {
  if (loop_.stopping()) return false;
  const int64_t bytes = item.bytes;
  int64_t bytes_before = queued_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (bytes_before > 0 && bytes_before + bytes > max_bytes_) {
    queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    return false;
  }
  int64_t before = queued_.fetch_add(1, std::memory_order_seq_cst);
  if (before >= capacity_ || !ring_.push(std::move(item))) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    return false;
  }
  if (static_cast<size_t>(before) + 1 >= wake_at_ || !timer_draining_.load(std::memory_order_seq_cst)) {
    uv_async_send(&wake_);
  }
  return true;
}

void ExporterThread::onWake(uv_async_t* handle) {
  auto* self = static_cast<ExporterThread*>(handle->data);
  // Workers that outpace the exporters refill the ring as fast as it drains: at most a ring's
  // worth per turn, then the loop runs its timers (commits, retention, flushes), transfers and
  // posts, and comes straight back.
  if (self->exportQueued(self->capacity_)) uv_async_send(&self->wake_);
  self->keepDraining();
}

bool ExporterThread::exportQueued(int64_t limit) {
  for (Queued item; limit > 0 && ring_.pop(&item); item = {}, --limit) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    queued_bytes_.fetch_sub(item.bytes, std::memory_order_relaxed);
    if (item.record) exportOne(*item.record);
    else if (item.feedback) exportFeedback(*item.feedback);
  }
  return limit == 0 && queued_.load(std::memory_order_relaxed) > 0;
}

// Records queued without a wake-up after this one are drained by the timer; a record counted
// but not yet pushed when the timer drains is taken at the next tick, since the count stays up.
void ExporterThread::keepDraining() {
  if (timer_draining_.load(std::memory_order_relaxed) || loop_.stopping()) return;
  if (!drain_timer_ready_) {
    uv_timer_init(loop_.loop(), &drain_timer_);
    drain_timer_.data = this;
    drain_timer_ready_ = true;
  }
  quiet_ticks_ = 0;
  timer_draining_.store(true, std::memory_order_seq_cst);
  uv_timer_start(&drain_timer_, &ExporterThread::onDrainTimer, kDrainIntervalMs, kDrainIntervalMs);
}

// The timer outlives a drained queue by kQuietTicks, so a steady trickle (a record every few
// hundred microseconds) is drained by ticks alone, with no wake-up per record.
void ExporterThread::onDrainTimer(uv_timer_t* timer) {
  auto* self = static_cast<ExporterThread*>(timer->data);
  bool had_work = self->queued_.load(std::memory_order_relaxed) > 0;
  if (self->exportQueued(self->capacity_)) uv_async_send(&self->wake_);
  if (had_work || ++self->quiet_ticks_ < kQuietTicks) {
    if (had_work) self->quiet_ticks_ = 0;
    return;
  }
  // Stopping: a record submitted meanwhile either sees the flag down and wakes the thread, or was
  // counted before the flag went down and is seen here (both sides are sequentially consistent).
  self->timer_draining_.store(false, std::memory_order_seq_cst);
  if (self->queued_.load(std::memory_order_seq_cst) > 0) {
    self->timer_draining_.store(true, std::memory_order_seq_cst);
    return;
  }
  uv_timer_stop(timer);
}

void ExporterThread::flush(std::vector<std::shared_ptr<plugin::PluginInstance>> exporters) {
  loop_.post([exporters = std::move(exporters)] {
    for (const auto& e : exporters) {
      const auto* hooks = e->exporter();
      if (OUTRIGGER_HAS_SLOT(hooks, outrigger_exporter_hooks, flush)) hooks->flush(e->handle());
    }
  });
}

void ExporterThread::exportOne(RequestRecord& r) {
  if (!r.route || r.route->exporters.empty()) return;
  completeTrace(&r, &span_ids_);
  RecordView view(r);
  for (const auto& stage : r.route->exporters) {
    const auto* hooks = stage.instance->exporter();
    if (hooks->export_record(stage.instance->handle(), view.get()) == OUTRIGGER_OK) {
      exported_.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

// Feedback names a trace, not a route: every exporter of the chain hears it, once each.
void ExporterThread::exportFeedback(const FeedbackRecord& f) {
  if (!f.chain) return;
  std::vector<const plugin::PluginInstance*> seen;
  FeedbackView view(f);
  for (const auto& [name, route] : f.chain->routes) {
    for (const auto& stage : route.exporters) {
      const plugin::PluginInstance* inst = stage.instance.get();
      if (std::find(seen.begin(), seen.end(), inst) != seen.end()) continue;
      seen.push_back(inst);
      const auto* hooks = inst->exporter();
      if (!OUTRIGGER_HAS_SLOT(hooks, outrigger_exporter_hooks, export_feedback)) continue;
      outrigger_status rc = hooks->export_feedback(stage.instance->handle(), view.get());
      if (rc == OUTRIGGER_OK) feedback_exported_.fetch_add(1, std::memory_order_relaxed);
      else if (rc != OUTRIGGER_E_UNSUPPORTED) failed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace outrigger::telemetry
