// What finished requests did, for /metrics: latency and time-to-first-chunk histograms by route
// and outcome, cache lookups by cache and result, guardrail verdicts by guardrail and verdict.
//
// Each worker keeps its own meter, written on its loop under an uncontended lock once per
// request; a scrape merges them. Every label value comes from the config (route and instance
// names), a fixed set (status codes, verdicts, hit/miss) or the capped tenant labels
// (tenant_labels.h), so the series are bounded: nothing a caller sends becomes a label unchecked.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "api/response_sink.h"
#include "common/status.h"
#include "telemetry/request_record.h"

namespace outrigger::telemetry {

// gen_ai.client.operation.duration's bucket boundaries (OpenTelemetry GenAI metrics), with two
// finer ones below them for a sidecar whose cache and mock answer in microseconds.
inline constexpr std::array<double, 16> kDurationBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32,
                                                            0.64,  1.28,  2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
// gen_ai.server.time_to_first_token's bucket boundaries.
inline constexpr std::array<double, 16> kFirstChunkBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                                              0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0};

template <size_t N>
struct Histogram {
  uint64_t count = 0;
  double sum = 0;
  std::array<uint64_t, N> buckets{};  // per bucket, not cumulative

  void add(double seconds, const std::array<double, N>& bounds);
  void merge(const Histogram& o);
};

struct RequestMeterSnapshot {
  // The tenant is "" unless [metrics] tenant_label is on (then the label is left out).
  std::map<std::tuple<std::string, std::string, std::string>, Histogram<16>> durations;  // route, tenant, code
  std::map<std::tuple<std::string, std::string>, Histogram<16>> first_chunks;             // route, tenant
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> lookups;   // route, cache, hit|miss
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> verdicts;  // route, guardrail, verdict
};

// One finished request, as RequestContext::end knows it.
struct FinishedRequest {
  std::string_view route;
  std::string_view tenant;  // its label (TenantLabels), or "" for none
  Code code = Code::kOk;
  double seconds = 0;
  double first_chunk_seconds = 0;  // 0: no chunk went out (a unary answer, or none)
  const std::vector<SpanRecord>* spans = nullptr;
  const std::vector<Verdict>* verdicts = nullptr;
};

class RequestMeter {
 public:
  // [loop] Counts one finished request.
  void record(const FinishedRequest& r);
  // [any] Adds this worker's figures into `into`.
  void mergeInto(RequestMeterSnapshot* into) const;

 private:
  mutable std::mutex mu_;
  RequestMeterSnapshot data_;
};

// The merged figures as Prometheus text (HELP and TYPE included).
std::string renderRequestMetrics(const RequestMeterSnapshot& s);

}  // namespace outrigger::telemetry
