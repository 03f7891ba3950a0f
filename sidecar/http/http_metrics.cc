#include "http/http_metrics.h"

#include <cstdio>

#include "common/prometheus_label.h"

namespace outrigger::http {

void HttpMetrics::record(std::string_view endpoint, std::string_view route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  LatencySeries& s = data_.series[SeriesKey(std::string(endpoint), std::string(route), status)];
  ++s.count;
  s.sum += seconds;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      ++s.buckets[i];
      break;
    }
  }
}

void HttpMetrics::clientAbort() {
  std::lock_guard<std::mutex> lock(mu_);
  ++data_.client_aborts;
}

void HttpMetrics::streamError() {
  std::lock_guard<std::mutex> lock(mu_);
  ++data_.stream_errors;
}

void HttpMetrics::writeTimeout() {
  std::lock_guard<std::mutex> lock(mu_);
  ++data_.write_timeouts;
}

void HttpMetrics::http2WaitingBodiesOver() {
  std::lock_guard<std::mutex> lock(mu_);
  ++data_.waiting_bodies_over;
}

void HttpMetrics::rejectedConnection() {
  std::lock_guard<std::mutex> lock(mu_);
  ++data_.rejected_connections;
}

void HttpMetrics::mergeInto(MetricsSnapshot* into) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, s] : data_.series) {
    LatencySeries& t = into->series[key];
    t.count += s.count;
    t.sum += s.sum;
    for (size_t i = 0; i < s.buckets.size(); ++i) t.buckets[i] += s.buckets[i];
  }
  into->client_aborts += data_.client_aborts;
  into->rejected_connections += data_.rejected_connections;
  into->stream_errors += data_.stream_errors;
  into->write_timeouts += data_.write_timeouts;
  into->waiting_bodies_over += data_.waiting_bodies_over;
}

std::string escapeLabel(std::string_view v) { return escapePrometheusLabel(v); }

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string labels(const SeriesKey& key) {
  return "endpoint=\"" + escapeLabel(std::get<0>(key)) + "\",route=\"" + escapeLabel(std::get<1>(key)) +
         "\",status=\"" + std::to_string(std::get<2>(key)) + "\"";
}

}  // namespace

std::string renderScalar(std::string_view name, std::string_view type, std::string_view help, double value) {
  std::string n(name);
  return "# HELP " + n + " " + std::string(help) + "\n# TYPE " + n + " " + std::string(type) + "\n" + n + " " +
         number(value) + "\n";
}

std::string renderPrometheus(const MetricsSnapshot& snap) {
  std::string out;
  out += "# HELP outrigger_http_requests_total HTTP requests answered, by endpoint, route and status.\n";
  out += "# TYPE outrigger_http_requests_total counter\n";
  for (const auto& [key, s] : snap.series) {
    out += "outrigger_http_requests_total{" + labels(key) + "} " + std::to_string(s.count) + "\n";
  }
  out += "# HELP outrigger_http_request_duration_seconds Time from request received to response complete.\n";
  out += "# TYPE outrigger_http_request_duration_seconds histogram\n";
  for (const auto& [key, s] : snap.series) {
    std::string l = labels(key);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += s.buckets[i];
      out += "outrigger_http_request_duration_seconds_bucket{" + l + ",le=\"" + number(kLatencyBuckets[i]) + "\"} " +
             std::to_string(cumulative) + "\n";
    }
    out += "outrigger_http_request_duration_seconds_bucket{" + l + ",le=\"+Inf\"} " + std::to_string(s.count) + "\n";
    out += "outrigger_http_request_duration_seconds_sum{" + l + "} " + number(s.sum) + "\n";
    out += "outrigger_http_request_duration_seconds_count{" + l + "} " + std::to_string(s.count) + "\n";
  }
  out += renderScalar("outrigger_http_client_aborts_total", "counter",
                      "Requests whose client went away before the answer was complete.", double(snap.client_aborts));
  out += renderScalar("outrigger_http_stream_errors_total", "counter",
                      "Failures after a stream had started, sent as SSE error events.", double(snap.stream_errors));
  out += renderScalar("outrigger_http_write_timeouts_total", "counter",
                      "Connections closed because their client took no output for write_timeout_ms.",
                      double(snap.write_timeouts));
  out += renderScalar("outrigger_http2_waiting_bodies_closes_total", "counter",
                      "HTTP/2 connections closed because the bodies of their requests waiting for a slot took more than "
                      "the running ones may (16 x max_body_bytes).",
                      double(snap.waiting_bodies_over));
  out += renderScalar("outrigger_http_rejected_connections_total", "counter",
                      "Connections closed at once because max_connections was reached.",
                      double(snap.rejected_connections));
  return out;
}

}  // namespace outrigger::http
