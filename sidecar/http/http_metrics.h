// Request counts and latency histograms of the HTTP front, by endpoint, route and status, in
// Prometheus text exposition format.
//
// Thread: each worker records into its own HttpMetrics on its loop thread; the admin listener
// (main thread) merges them at scrape time. A short uncontended mutex guards each one: one lock
// per finished request, no allocation once a series exists.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace outrigger::http {

// Upper bounds (seconds) of the latency histogram buckets; +Inf is implied.
inline constexpr std::array<double, 16> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                           0.25,   0.5,   1,      2.5,   5,     10,    30,    120};

struct LatencySeries {
  uint64_t count = 0;
  double sum = 0;
  std::array<uint64_t, kLatencyBuckets.size()> buckets{};  // not cumulative
};

// endpoint ("chat_completions", "models" ...), route (a configured route, or "none"), status.
using SeriesKey = std::tuple<std::string, std::string, int>;

struct MetricsSnapshot {
  std::map<SeriesKey, LatencySeries> series;
  uint64_t client_aborts = 0;       // the client went away before the answer was complete
  uint64_t rejected_connections = 0;
  uint64_t stream_errors = 0;       // failures after a stream started (sent as SSE error events)
  uint64_t write_timeouts = 0;      // connections closed for a write their client did not take
  uint64_t waiting_bodies_over = 0;  // HTTP/2 connections closed for the bodies waiting on them
};

class HttpMetrics {
 public:
  // `route` must come from the config (bounded label values), never from the caller.
  void record(std::string_view endpoint, std::string_view route, int status, double seconds);
  void clientAbort();
  void streamError();
  void rejectedConnection();
  void writeTimeout();
  void http2WaitingBodiesOver();
  // Adds this worker's figures into `into`.
  void mergeInto(MetricsSnapshot* into) const;

 private:
  mutable std::mutex mu_;
  MetricsSnapshot data_;
};

// The HTTP metrics as Prometheus text (HELP/TYPE lines included).
std::string renderPrometheus(const MetricsSnapshot& snapshot);

// One counter or gauge with no labels, HELP and TYPE included.
std::string renderScalar(std::string_view name, std::string_view type, std::string_view help, double value);

// Escapes a label value (backslash, double quote, newline).
std::string escapeLabel(std::string_view v);

}  // namespace outrigger::http
