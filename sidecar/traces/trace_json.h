// The trace store's query results as JSON: the admin server's /traces answers and
// `outrigger traces --json` print the same documents.
//
//   list:  {"requests": [request...]}
//   trace: {"trace_id": ..., "requests": [request + "spans": [...] + content], "feedback": [...]}
//   stats: {"by": "tenant", "groups": [{"key", "requests", "errors", "error_rate", "refusals",
//           "refusal_rate", "cache_hits", "latency_ms": {"p50","p95","p99"}, "input_tokens",
//           "output_tokens", "cost_usd"}]}
//   stats with bucket=N: {"by": "tenant", "bucket_seconds": N, "since_unix_ns", "until_unix_ns",
//           "series": [{"key", "requests", "cost_usd", "buckets": [{"start_unix_ns", "requests",
//           "errors", "cache_hits", "input_tokens", "output_tokens", "cost_usd"}]}]}
//           (until_unix_ns is the query's bound, or the time it ran when the filter had none)
#pragma once

#include <string>
#include <vector>

#include "traces/arm_comparison.h"
#include "traces/trace_query.h"

namespace outrigger::traces {

std::string requestsJson(const std::vector<RequestRow>& rows);
std::string traceJson(std::string_view trace_id, const TraceDetail& trace);
// The arms of a split route with their intervals and differences (/traces/arms, traces arms --json).
// `notes` (what a judge could not grade, say) are included when there are any.
std::string armsJson(const std::vector<ArmRow>& arms, const std::vector<std::string>& notes = {});
std::string statsJson(GroupBy by, const std::vector<StatsRow>& rows);
std::string bucketedStatsJson(GroupBy by, uint32_t bucket_seconds, int64_t since_unix_ns, int64_t until_unix_ns,
                              const std::vector<SeriesRow>& series);
// {"error": {"message": ..., "type": ...}}, the admin server's error body.
std::string errorJson(std::string_view type, std::string_view message);

}  // namespace outrigger::traces
