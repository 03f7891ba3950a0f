// Queries over the trace store: list requests by filter, load one trace whole, and statistics
// grouped by tenant, model, route, provider, user or prompt version. The CLI (`outrigger
// traces`) and the admin server (/traces) both answer with these, so they always agree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "traces/sqlite_statement.h"

namespace outrigger::traces {

// Every field left empty (or 0) matches everything.
struct TraceFilter {
  std::string trace_id, route, tenant, user, session, model, provider, prompt_id, prompt_version;
  std::string status;   // a code name (OK, UNAVAILABLE ...) or "error": anything but OK
  std::string verdict;  // some guardrail gave this verdict (pass, flag, deny, rewrite, error ...)
  int64_t since_unix_ns = 0, until_unix_ns = 0;  // the request started in [since, until)
  uint32_t limit = 50;                           // list only: the newest this many
};

struct VerdictRow {
  int64_t request = 0;
  std::string guardrail, verdict, reason;
};

struct RequestRow {
  int64_t id = 0;
  std::string trace_id, span_id, parent_span_id;
  int64_t start_unix_ns = 0, duration_us = 0, first_chunk_us = 0;
  std::string route, provider, model, status, origin, message, finish_reason;
  bool stream = false, cache_hit = false;
  std::string tenant, user, session, request_id, prompt_id, prompt_version;
  std::string tags;  // a JSON object
  int64_t input_tokens = 0, output_tokens = 0, cached_tokens = 0, reasoning_tokens = 0, cache_write_tokens = 0;
  double cost_usd = 0;
  bool cost_unpriced = false;
  std::vector<VerdictRow> verdicts;
  // Filled by loadTrace only: what the route captured (prompt and answer_tool_calls are JSON).
  std::string capture, prompt, answer, answer_tool_calls;
};

struct SpanRow {
  int64_t request = 0;
  std::string span_id, parent_span_id, stage, instance, outcome;
  int64_t start_unix_ns = 0, duration_us = 0;
  std::string attributes;  // a JSON object of strings
};

struct FeedbackRow {
  std::string trace_id;
  double score = 0;
  std::string comment;
  int64_t received_unix_ns = 0;
  std::string tenant, user, session;
};

struct TraceDetail {
  std::vector<RequestRow> requests;  // the trace's requests, oldest first, up to the bounds below
  std::vector<SpanRow> spans;        // of all of them, by request then start
  std::vector<FeedbackRow> feedback;
  bool truncated = false;  // more requests have this trace id than one answer holds
  bool feedback_truncated = false;  // more feedback scores them than one answer holds
};

// One trace's answer holds at most this many requests and this much captured content: a trace id
// is the caller's to choose (its traceparent), so one id may gather any number of requests.
constexpr size_t kMaxTraceRequests = 100;
constexpr size_t kMaxTraceContentBytes = 16u << 20;
// Feedback is any caller's to send for any trace id, with a comment each: held to as many rows
// and, with the content above, the same bytes.
constexpr size_t kMaxTraceFeedback = 1000;

enum class GroupBy { kNone, kTenant, kModel, kRoute, kProvider, kUser, kPromptVersion };
// "tenant", "model", "route", "provider", "user", "prompt_version" or "" (everything together).
bool parseGroupBy(std::string_view name, GroupBy* out);
const char* groupByName(GroupBy by);

struct StatsRow {
  std::string key;  // the group's value ("prompt_id@version" for prompt versions), or kOtherGroups
  uint64_t groups = 1;  // the groups the row stands for (the kOtherGroups row: every one past the cap)
  bool other = false;   // the kOtherGroups row, not a group whose value happens to be "_other"
  uint64_t requests = 0, errors = 0, refusals = 0, cache_hits = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;  // request latency, nearest rank
  uint64_t input_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
};

// One time bucket of a group: the requests that started in [start, start + bucket).
struct BucketRow {
  int64_t start_unix_ns = 0;
  uint64_t requests = 0, errors = 0, cache_hits = 0;
  uint64_t input_tokens = 0, output_tokens = 0;
  double cost_usd = 0;
};

// A group's buckets over time, oldest first; buckets without requests are left out.
struct SeriesRow {
  std::string key;
  uint64_t groups = 1;  // as StatsRow's
  bool other = false;
  uint64_t requests = 0;
  double cost_usd = 0;
  std::vector<BucketRow> buckets;
};

// A stats answer holds at most kMaxStatsGroups groups, the largest, and then one more row keyed
// kOtherGroups for all the others together (its percentiles over all of their requests), so its
// size is bounded whatever the store holds (a million users) and its totals still add up.
constexpr size_t kMaxStatsGroups = 1000;
constexpr char kOtherGroups[] = "_other";

// Buckets are 1 s to a day wide and aligned to multiples of their width since the Unix epoch;
// a bucketed query needs `since` and covers at most kMaxBuckets of them, so an answer stays small
// whatever the store holds.
constexpr uint32_t kMaxBucketSeconds = 86400;
constexpr uint32_t kMaxBuckets = 1440;

// Bounds a query's work: a query still running after `timeout_ms` (0: none) is interrupted and
// fails with an error that says to narrow the filter. The admin server always sets it.
struct QueryLimits {
  uint32_t timeout_ms = 0;
};

// False (with the reason) for a filter no query could answer, e.g. a verdict that does not exist.
// The queries below check it too; the admin server asks first, to answer 400 rather than 503.
bool validFilter(const TraceFilter& filter, std::string* error);

// The newest requests matching `filter`, newest first, with their verdicts.
bool listRequests(sqlite3* db, const TraceFilter& filter, const QueryLimits& limits, std::vector<RequestRow>* out,
                  std::string* error);
// Every request and span of `trace_id`, and the feedback that scores its requests (feedback a
// tenant of none of them sent is left out); `out->requests` is empty when it is unknown.
bool loadTrace(sqlite3* db, std::string_view trace_id, const QueryLimits& limits, TraceDetail* out, std::string* error);
// Per group: counts, error and refusal counts (finish reason content_filter or refusal),
// latency percentiles, tokens and cost; the largest groups (by requests) first, at most
// kMaxStatsGroups of them, then the kOtherGroups row when there were more.
bool requestStats(sqlite3* db, const TraceFilter& filter, GroupBy by, const QueryLimits& limits,
                  std::vector<StatsRow>* out, std::string* error);

// False (with the reason) unless `bucket_seconds` is 1..kMaxBucketSeconds, the filter has
// `since`, and [since, until or `now_unix_ns`) spans at most kMaxBuckets buckets.
bool validBuckets(const TraceFilter& filter, uint32_t bucket_seconds, int64_t now_unix_ns, std::string* error);

// Per group and time bucket: requests, errors, cache hits, tokens and cost, for charts over time.
// The groups that cost most come first (then the busiest, then by key), at most kMaxStatsGroups
// of them, then the kOtherGroups series when there were more.
bool bucketedStats(sqlite3* db, const TraceFilter& filter, GroupBy by, uint32_t bucket_seconds,
                   const QueryLimits& limits, std::vector<SeriesRow>* out, std::string* error);

// A time bound for filters: a duration back from now ("90s", "15m", "2h", "7d"), Unix seconds,
// or an RFC 3339 UTC time ("2026-12-03T01:00:00Z").
bool parseTimeBound(std::string_view text, int64_t now_unix_ns, int64_t* out_unix_ns);

}  // namespace outrigger::traces
