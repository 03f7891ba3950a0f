// The daemon's /metrics text: sums of what every worker counts, and the main thread's own.
#include <algorithm>
#include <atomic>

#include "common/clock.h"
#include "cost/usage_meter.h"
#include "telemetry/plugin_metrics.h"
#include "telemetry/request_meter.h"
#include "daemon/daemon.h"
#include "http/http_metrics.h"

namespace outrigger::daemon {
namespace {

// One counter every worker keeps in its `Counters`; /metrics shows the sum.
template <class Counters>
struct CounterRow {
  const char* name;
  const char* help;
  std::atomic<uint64_t> Counters::*field;
};

template <class Counters, size_t N, class Get>
std::string renderSums(const CounterRow<Counters> (&rows)[N], const std::vector<std::unique_ptr<Worker>>& workers,
                       Get counters_of) {
  std::string out;
  for (const CounterRow<Counters>& row : rows) {
    uint64_t sum = 0;
    for (const auto& w : workers) sum += (counters_of(*w).*row.field).load(std::memory_order_relaxed);
    out += http::renderScalar(row.name, "counter", row.help, double(sum));
  }
  return out;
}

}  // namespace

std::string Daemon::metricsText() const {
  http::MetricsSnapshot snap;
  uint64_t started = 0, finished = 0, failed = 0;
  size_t ipc_conns = 0, http_conns = 0;
  for (const auto& w : workers_) {
    w->httpMetrics().mergeInto(&snap);
    // Ends read before starts: a request that starts and ends between the reads is counted
    // started, never ended without its start (which would wrap the gauge below).
    finished += w->engineCounters().finished.load();
    failed += w->engineCounters().failed.load();
    started += w->engineCounters().started.load();
    ipc_conns += w->connections();
    http_conns += w->httpConnections();
  }
  std::string out = http::renderPrometheus(snap);
  out += "# HELP outrigger_build_info Build version.\n# TYPE outrigger_build_info gauge\n";
  out += "outrigger_build_info{version=\"" + http::escapeLabel(OUTRIGGER_VERSION) + "\"} 1\n";
  out += http::renderScalar("outrigger_chain_requests_started_total", "counter", "Requests the chain started.", double(started));
  out += http::renderScalar("outrigger_chain_requests_finished_total", "counter", "Requests that ended OK.", double(finished));
  out += http::renderScalar("outrigger_chain_requests_failed_total", "counter", "Requests that ended with an error.", double(failed));
  out += http::renderScalar("outrigger_requests_in_flight", "gauge", "Requests started and not yet ended.",
                            double(started >= finished + failed ? started - finished - failed : 0));
  out += http::renderScalar("outrigger_socket_connections", "gauge", "Open wire-protocol connections.", double(ipc_conns));
  out += http::renderScalar("outrigger_http_connections", "gauge", "Open HTTP connections.", double(http_conns));
  out += http::renderScalar("outrigger_config_generation", "gauge", "Generation of the live config.", double(generation_));
  out += http::renderScalar("outrigger_ready", "gauge", "1 when ready to serve.", shutting_down_ ? 0.0 : 1.0);
  out += http::renderScalar("outrigger_feedback_dropped_total", "counter",
                            "Feedback dropped because the exporter queue was full.",
                            double(exporter_ ? exporter_->feedbackDropped() : 0));
  out += http::renderScalar("outrigger_feedback_exported_total", "counter",
                            "Feedback records exporters accepted (one per exporter).",
                            double(exporter_ ? exporter_->feedbackExported() : 0));
  out += http::renderScalar("outrigger_exporter_queue_depth", "gauge",
                            "Finished-request records waiting for the exporter thread.",
                            double(exporter_ ? std::max<int64_t>(exporter_->queued(), 0) : 0));
  out += http::renderScalar("outrigger_exporter_queue_bytes", "gauge",
                            "Bytes the queued records hold, about (bounded by [exporter] queue_max_bytes).",
                            double(exporter_ ? std::max<int64_t>(exporter_->queuedBytes(), 0) : 0));
  out += http::renderScalar("outrigger_records_exported_total", "counter",
                            "Records exporters accepted (one per exporter).", double(exporter_ ? exporter_->exported() : 0));
  out += http::renderScalar("outrigger_records_export_failures_total", "counter",
                            "Records an exporter refused or failed to take.", double(exporter_ ? exporter_->failed() : 0));
  out += resilienceMetrics();
  out += socketMetrics();
  out += usageMetrics();
  out += requestMetrics();
  out += breakerMetrics();
  out += upstreamMetrics();
  out += alertMetrics();
  if (tenant_labels_) {
    out += http::renderScalar("outrigger_metric_tenants", "gauge", "Tenants with a label of their own on /metrics.",
                              double(tenant_labels_->tenants()));
    out += http::renderScalar("outrigger_metric_tenant_overflow_total", "counter",
                              "Requests labelled tenant \"_other\" because [metrics] max_tenants was reached.",
                              double(tenant_labels_->overflowed()));
  }
  telemetry::PluginMetrics plugins;
  plugins.collect(liveInstances());
  std::string published = plugins.render(out);
  out += published;
  out += http::renderScalar(std::string(telemetry::PluginMetrics::kSamplesDroppedMetric), "gauge",
                            "Samples plugins wrote that this scrape dropped (bad names or labels, over the cap).",
                            double(plugins.dropped()));
  return out;
}

// Every instance of the live config once: what /metrics and the alert rules ask for figures.
std::vector<std::shared_ptr<plugin::PluginInstance>> Daemon::liveInstances() const {
  std::vector<std::shared_ptr<plugin::PluginInstance>> out;
  if (!snapshot_) return out;
  for (const auto& chain : snapshot_->workers) {
    for (const auto& [name, route] : chain->routes) {
      for (const auto* stages : {&route.guardrails, &route.limiters, &route.cache, &route.exporters}) {
        for (const chain::Stage& s : *stages) out.push_back(s.instance);
      }
      for (const chain::Target& t : route.targets) out.push_back(t.stage.instance);
    }
  }
  for (const auto& e : snapshot_->exporters) out.push_back(e);
  return out;
}

std::string Daemon::requestMetrics() const {
  telemetry::RequestMeterSnapshot merged;
  for (const auto& w : workers_) w->requestMeter().mergeInto(&merged);
  return telemetry::renderRequestMetrics(merged);
}

// 0 closed, 1 half-open (probing), 2 open: one series per target the process has used.
std::string Daemon::breakerMetrics() const {
  std::string out =
      "# HELP outrigger_breaker_state Circuit breaker state per target (instance/model): 0 closed, 1 half-open, 2 open.\n"
      "# TYPE outrigger_breaker_state gauge\n";
  for (const auto& [target, state] : health_->breakerStates(monoNowNs())) {
    int v = state == resilience::CircuitBreaker::State::kOpen ? 2 : state == resilience::CircuitBreaker::State::kHalfOpen ? 1 : 0;
    out += "outrigger_breaker_state{target=\"" + http::escapeLabel(target) + "\"} " + std::to_string(v) + "\n";
  }
  return out;
}

// What each target's upstream reports itself as, and how often that changed (a provider moving
// an alias to another snapshot is the first thing a drift alert wants to know).
std::string Daemon::upstreamMetrics() const {
  auto identities = health_->upstreamIdentities();
  std::string out =
      "# HELP outrigger_upstream_changes_total Changes of the model or system fingerprint a target's upstream reported "
      "between consecutive answers.\n# TYPE outrigger_upstream_changes_total counter\n";
  for (const auto& [target, id] : identities) {
    std::string t = http::escapeLabel(target);
    out += "outrigger_upstream_changes_total{target=\"" + t + "\",kind=\"model\"} " + std::to_string(id.model_changes) + "\n";
    out += "outrigger_upstream_changes_total{target=\"" + t + "\",kind=\"system_fingerprint\"} " +
           std::to_string(id.fingerprint_changes) + "\n";
  }
  out += "# HELP outrigger_upstream_info The model and system fingerprint a target's upstream reported last (1 per target).\n"
         "# TYPE outrigger_upstream_info gauge\n";
  for (const auto& [target, id] : identities) {
    if (id.model.empty() && id.fingerprint.empty()) continue;
    out += "outrigger_upstream_info{target=\"" + http::escapeLabel(target) + "\",model=\"" + http::escapeLabel(id.model) +
           "\",system_fingerprint=\"" + http::escapeLabel(id.fingerprint) + "\"} 1\n";
  }
  return out;
}

// Tokens and USD by route, provider and model, merged over the workers (one cap for all of them).
std::string Daemon::usageMetrics() const {
  std::map<std::string, cost::UsageSeries> merged;
  uint64_t overflowed = 0;
  for (const auto& w : workers_) w->usageMeter().mergeInto(&merged, &overflowed);
  return cost::renderUsageMetrics(merged, overflowed);
}

// Counters every worker keeps on its own; the sums are what an operator alerts on.
std::string Daemon::resilienceMetrics() const {
  static const CounterRow<chain::EngineCounters> kEngine[] = {
      {"outrigger_attempts_total", "Provider attempts started (first tries, retries, fallbacks, hedges).",
       &chain::EngineCounters::attempts},
      {"outrigger_retries_total", "Attempts that retried the same target.", &chain::EngineCounters::retries},
      {"outrigger_fallbacks_total", "Attempts that moved on to another target.", &chain::EngineCounters::fallbacks},
      {"outrigger_give_ups_total", "Requests that ended with a provider failure after their attempts.",
       &chain::EngineCounters::give_ups},
      {"outrigger_breaker_skips_total", "Targets skipped because their circuit breaker was open.",
       &chain::EngineCounters::breaker_skips},
      {"outrigger_limit_queued_total", "Requests that waited in a route's limit queue.", &chain::EngineCounters::queued},
      {"outrigger_limit_queue_full_total", "Requests refused because the route's limit queue was full.",
       &chain::EngineCounters::queue_full},
      {"outrigger_limit_queue_timeouts_total", "Queued requests whose queue time ran out.",
       &chain::EngineCounters::queue_timeouts},
      {"outrigger_hedges_total", "Hedged second attempts started.", &chain::EngineCounters::hedges},
      {"outrigger_hedge_wins_total", "Hedged attempts that answered first.", &chain::EngineCounters::hedge_wins},
      {"outrigger_guardrail_rewrites_total", "Requests or answers a guardrail rewrote.", &chain::EngineCounters::rewrites},
      {"outrigger_guardrail_reasks_total", "Provider attempts a response guardrail asked for again.",
       &chain::EngineCounters::reasks},
      {"outrigger_limiter_refusals_total", "Requests a route's limiter refused.", &chain::EngineCounters::limiter_refusals},
      {"outrigger_guardrail_hold_overflows_total", "Streams ended because guardrails held more than max_held_bytes.",
       &chain::EngineCounters::hold_overflows},
      {"outrigger_answer_overflows_total", "Requests (or hedges) ended because the answer went past the route's max_answer_bytes.",
       &chain::EngineCounters::answer_overflows},
      {"outrigger_records_dropped_total", "Finished-request records dropped because the exporter queue was full.",
       &chain::EngineCounters::records_dropped},
  };
  static const CounterRow<http_client::HttpClientCounters> kClient[] = {
      {"outrigger_upstream_transfers_started_total", "Upstream HTTP transfers started.",
       &http_client::HttpClientCounters::started},
      {"outrigger_upstream_transfers_completed_total", "Upstream HTTP transfers whose response arrived whole.",
       &http_client::HttpClientCounters::completed},
      {"outrigger_upstream_transfers_failed_total", "Upstream HTTP transfers that failed (transport errors, timeouts).",
       &http_client::HttpClientCounters::failed},
      {"outrigger_upstream_timeouts_total", "Upstream HTTP transfers ended by a timeout or the deadline.",
       &http_client::HttpClientCounters::timeouts},
      {"outrigger_upstream_transfers_cancelled_total", "Upstream HTTP transfers cancelled by their request.",
       &http_client::HttpClientCounters::cancelled},
      {"outrigger_upstream_connections_opened_total", "Upstream TCP connections opened.",
       &http_client::HttpClientCounters::sockets_opened},
  };
  return renderSums(kEngine, workers_, [](Worker& w) -> auto& { return w.engineCounters(); }) +
         renderSums(kClient, workers_, [](Worker& w) -> auto& { return w.httpClientCounters(); });
}

// What hostile or broken socket clients cost: refusals at accept, connections closed by a
// timeout or a fatal error, streams refused alone, partial-frame memory.
std::string Daemon::socketMetrics() const {
  static const CounterRow<ipc::ConnectionCounters> kConn[] = {
      {"outrigger_socket_protocol_errors_total", "Socket connections closed for a connection-fatal error.",
       &ipc::ConnectionCounters::protocol_errors},
      {"outrigger_socket_stream_errors_total", "Socket requests refused alone (bad body, stream id, text).",
       &ipc::ConnectionCounters::stream_errors},
      {"outrigger_socket_handshake_timeouts_total", "Socket connections closed for sending no Hello in time.",
       &ipc::ConnectionCounters::handshake_timeouts},
      {"outrigger_socket_frame_timeouts_total", "Socket connections closed for leaving a frame half sent.",
       &ipc::ConnectionCounters::frame_timeouts},
      {"outrigger_socket_idle_closes_total", "Idle socket connections closed.", &ipc::ConnectionCounters::idle_closes},
      {"outrigger_socket_memory_refusals_total", "Socket connections closed because partial frames held too much memory.",
       &ipc::ConnectionCounters::memory_refusals},
      {"outrigger_socket_tenant_refusals_total", "Socket requests that named a tenant their peer may not use.",
       &ipc::ConnectionCounters::tenant_refusals},
      {"outrigger_feedback_received_total", "Feedback frames accepted and handed to the exporter queue.",
       &ipc::ConnectionCounters::feedback},
      {"outrigger_socket_answers_dropped_total",
       "Unary answers replaced by RESOURCE_EXHAUSTED because the client read none of its queued output.",
       &ipc::ConnectionCounters::answers_dropped},
  };
  std::string out = renderSums(kConn, workers_, [](Worker& w) -> auto& { return w.counters(); });
  using V = ipc::ConnectionAdmission::Verdict;
  out += "# HELP outrigger_socket_connections_refused_total Socket connections refused at accept, by reason.\n"
         "# TYPE outrigger_socket_connections_refused_total counter\n";
  for (V v : {V::kProcessFull, V::kPeerFull, V::kNoDescriptors}) {
    out += "outrigger_socket_connections_refused_total{reason=\"" + std::string(ipc::ConnectionAdmission::reason(v)) +
           "\"} " + std::to_string(admission_ ? admission_->refused(v) : 0) + "\n";
  }
  uint64_t accept_errors = listener_ ? listener_->acceptErrors() : 0;
  for (const auto& l : http_listeners_) accept_errors += l->acceptErrors();
  out += http::renderScalar("outrigger_accept_errors_total", "counter",
                            "accept() failures on the socket and HTTP listeners (e.g. out of descriptors).",
                            double(accept_errors));
  out += http::renderScalar("outrigger_socket_partial_frame_bytes", "gauge",
                            "Memory held for partly received socket frames.",
                            double(partial_budget_ ? partial_budget_->held() : 0));
  out += http::renderScalar("outrigger_connection_descriptor_budget", "gauge",
                            "Socket and HTTP connections the open-files limit leaves room for.", double(admission_ ? admission_->descriptors() : 0));
  return out;
}

}  // namespace outrigger::daemon
