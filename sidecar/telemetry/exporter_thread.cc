#include "telemetry/exporter_thread.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "chain/chain.h"
#include "telemetry/record_view.h"

namespace outrigger::telemetry {

namespace {
constexpr uint64_t kDrainIntervalMs = 5;
}  // namespace

ExporterThread::ExporterThread(size_t queue_capacity, http_client::HttpClientSettings http)
    : wake_at_(std::max<size_t>(1, queue_capacity / 4)),
      loop_(/*index=*/0xff, queue_capacity),
      http_client_(std::make_unique<http_client::HttpClient>(loop_.loop(), std::move(http))),
      span_ids_((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {
  // After every record queued before stop(): the exporters see them before their loop use ends.
  // The instances' transfers are aborted first (their sinks hear E_CANCELLED), then the
  // client's own connections, polls and timer go, before the loop closes whatever is left.
  loop_.setBeforeClose([this] {
    retireInstanceLoops();
    http_client_->shutdown();
  });
}

ExporterThread::~ExporterThread() {
  stop();
  // Never started: nothing ran on the loop, so the instances are retired here, off it.
  retireInstanceLoops();
}

void ExporterThread::start(ExporterPriority priority) {
  if (started_) return;
  started_ = true;
  // Linux threads have their own scheduling policy and nice value; set on the thread itself.
  if (priority == ExporterPriority::kLow) {
    loop_.post([] { ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10); });
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
  int64_t before = queued_.fetch_add(1, std::memory_order_relaxed);
  auto fn = [this, record = std::move(record)] {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    exportOne(*record);
    keepDraining();
  };
  bool wake = before <= 0 || static_cast<size_t>(before) + 1 >= wake_at_;
  bool posted = wake ? loop_.post(std::move(fn)) : loop_.postQuiet(std::move(fn));
  if (!posted) queued_.fetch_sub(1, std::memory_order_relaxed);
  return posted;
}

// Records queued without a wake-up after this one are drained by the timer; a record counted
// but not yet pushed when the timer drains is taken at the next tick, since the count stays up.
void ExporterThread::keepDraining() {
  if (draining_ || queued_.load(std::memory_order_relaxed) <= 0 || loop_.stopping()) return;
  if (!drain_timer_ready_) {
    uv_timer_init(loop_.loop(), &drain_timer_);
    drain_timer_.data = this;
    drain_timer_ready_ = true;
  }
  draining_ = true;
  uv_timer_start(&drain_timer_, &ExporterThread::onDrainTimer, kDrainIntervalMs, kDrainIntervalMs);
}

void ExporterThread::onDrainTimer(uv_timer_t* timer) {
  auto* self = static_cast<ExporterThread*>(timer->data);
  self->loop_.drainQueued();
  if (self->queued_.load(std::memory_order_relaxed) > 0) return;
  self->draining_ = false;
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

bool ExporterThread::submitFeedback(std::shared_ptr<FeedbackRecord> feedback) {
  bool queued = loop_.post([this, feedback = std::move(feedback)] { exportFeedback(*feedback); });
  if (!queued) feedback_dropped_.fetch_add(1, std::memory_order_relaxed);
  return queued;
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
