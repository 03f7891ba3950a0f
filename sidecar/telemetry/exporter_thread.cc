#include "telemetry/exporter_thread.h"

#include "chain/chain.h"

namespace outrigger::telemetry {
namespace {

outrigger_str cstr(const std::string& s) { return {s.data(), s.size()}; }

}  // namespace

ExporterThread::ExporterThread(size_t queue_capacity) : loop_(/*index=*/0xff, queue_capacity) {}

ExporterThread::~ExporterThread() { stop(); }

void ExporterThread::start() {
  if (started_) return;
  started_ = true;
  loop_.startThread();
}

void ExporterThread::stop() {
  if (!started_) return;
  started_ = false;
  loop_.stop();
  loop_.join();
}

bool ExporterThread::submit(std::shared_ptr<RequestRecord> record) {
  return loop_.post([this, record = std::move(record)] { exportOne(*record); });
}

void ExporterThread::flush(std::vector<std::shared_ptr<plugin::PluginInstance>> exporters) {
  loop_.post([exporters = std::move(exporters)] {
    for (const auto& e : exporters) {
      const auto* hooks = e->exporter();
      if (OUTRIGGER_HAS_SLOT(hooks, outrigger_exporter_hooks, flush)) hooks->flush(e->handle());
    }
  });
}

void ExporterThread::exportOne(const RequestRecord& r) {
  if (!r.route || r.route->exporters.empty()) return;
  std::vector<outrigger_tag_view> tags;
  for (const auto& [k, v] : r.metadata.tags) tags.push_back({cstr(k), cstr(v)});
  outrigger_metadata_view md{cstr(r.metadata.tenant), cstr(r.metadata.user), cstr(r.metadata.session),
                             cstr(r.metadata.request_id), cstr(r.metadata.prompt_id),
                             cstr(r.metadata.prompt_version), tags.data(), tags.size(),
                             cstr(r.metadata.traceparent)};
  std::vector<outrigger_span_view> spans;
  for (const auto& s : r.spans) {
    spans.push_back({cstr(s.stage), cstr(s.instance), s.start_ns, s.duration_ns, cstr(s.outcome)});
  }
  std::vector<outrigger_verdict_view> verdicts;
  for (const auto& v : r.verdicts) {
    verdicts.push_back({cstr(v.guardrail), static_cast<outrigger_verdict>(v.kind), cstr(v.reason)});
  }
  outrigger_record_view view{};
  view.hdr = OUTRIGGER_HEADER_INIT(outrigger_record_view);
  view.trace_id = cstr(r.trace_id);
  view.route = cstr(r.route_name);
  view.provider = cstr(r.provider);
  view.model = cstr(r.model);
  view.metadata = &md;
  view.start_unix_ns = r.start_unix_ns;
  view.duration_ns = r.duration_ns;
  view.time_to_first_chunk_ns = r.time_to_first_chunk_ns;
  view.code = static_cast<outrigger_code>(r.code);
  view.stream = r.stream;
  view.cache_hit = r.cache_hit;
  view.origin = cstr(r.origin);
  view.message = cstr(r.message);
  view.finish_reason = cstr(r.finish_reason);
  view.usage = {r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_tokens, r.usage.reasoning_tokens};
  view.cost_usd = r.cost_usd;
  view.spans = spans.data();
  view.span_count = spans.size();
  view.verdicts = verdicts.data();
  view.verdict_count = verdicts.size();
  for (const auto& stage : r.route->exporters) {
    const auto* hooks = stage.instance->exporter();
    if (hooks->export_record(stage.instance->handle(), &view) == OUTRIGGER_OK) {
      exported_.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace outrigger::telemetry
