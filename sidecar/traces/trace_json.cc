#include "traces/trace_json.h"

#include <rapidjson/document.h>

#include "traces/json_writer.h"

namespace outrigger::traces {
namespace {

// A column that holds JSON text goes in as JSON, not as a string; text that does not parse
// (a store written by hand) goes in as a string.
void raw(JsonWriter& w, const char* key, const std::string& json, const char* empty) {
  w.Key(key);
  const std::string& text = json.empty() ? std::string(empty) : json;
  rapidjson::Document d;
  if (d.Parse(text.c_str(), text.size()).HasParseError()) {
    w.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
    return;
  }
  w.RawValue(text.c_str(), text.size(), d.GetType());
}

void request(JsonWriter& w, const RequestRow& r) {
  str(w, "trace_id", r.trace_id);
  str(w, "span_id", r.span_id);
  str(w, "parent_span_id", r.parent_span_id);
  w.Key("start_unix_ns"), w.Int64(r.start_unix_ns);
  w.Key("duration_ms"), w.Double(static_cast<double>(r.duration_us) / 1000.0);
  w.Key("time_to_first_chunk_ms"), w.Double(static_cast<double>(r.first_chunk_us) / 1000.0);
  str(w, "route", r.route);
  str(w, "provider", r.provider);
  str(w, "model", r.model);
  str(w, "status", r.status);
  str(w, "origin", r.origin);
  str(w, "message", r.message);
  str(w, "finish_reason", r.finish_reason);
  w.Key("stream"), w.Bool(r.stream);
  w.Key("cache_hit"), w.Bool(r.cache_hit);
  str(w, "tenant", r.tenant);
  str(w, "user", r.user);
  str(w, "session", r.session);
  str(w, "request_id", r.request_id);
  str(w, "prompt_id", r.prompt_id);
  str(w, "prompt_version", r.prompt_version);
  raw(w, "tags", r.tags, "{}");
  w.Key("usage");
  w.StartObject();
  w.Key("input_tokens"), w.Int64(r.input_tokens);
  w.Key("output_tokens"), w.Int64(r.output_tokens);
  w.Key("cached_tokens"), w.Int64(r.cached_tokens);
  w.Key("reasoning_tokens"), w.Int64(r.reasoning_tokens);
  w.Key("cache_write_tokens"), w.Int64(r.cache_write_tokens);
  w.EndObject();
  w.Key("cost_usd"), w.Double(r.cost_usd);
  if (r.cost_unpriced) w.Key("cost_unpriced"), w.Bool(true);
  w.Key("verdicts");
  w.StartArray();
  for (const VerdictRow& v : r.verdicts) {
    w.StartObject();
    str(w, "guardrail", v.guardrail);
    str(w, "verdict", v.verdict);
    str(w, "reason", v.reason);
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

std::string requestsJson(const std::vector<RequestRow>& rows) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("requests");
  w.StartArray();
  for (const RequestRow& r : rows) {
    w.StartObject();
    request(w, r);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string traceJson(std::string_view trace_id, const TraceDetail& trace) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  str(w, "trace_id", trace_id);
  w.Key("requests");
  w.StartArray();
  for (const RequestRow& r : trace.requests) {
    w.StartObject();
    request(w, r);
    w.Key("spans");
    w.StartArray();
    for (const SpanRow& s : trace.spans) {
      if (s.request != r.id) continue;
      w.StartObject();
      str(w, "span_id", s.span_id);
      str(w, "parent_span_id", s.parent_span_id);
      str(w, "stage", s.stage);
      str(w, "instance", s.instance);
      str(w, "outcome", s.outcome);
      w.Key("start_unix_ns"), w.Int64(s.start_unix_ns);
      w.Key("duration_ms"), w.Double(static_cast<double>(s.duration_us) / 1000.0);
      raw(w, "attributes", s.attributes, "{}");
      w.EndObject();
    }
    w.EndArray();
    str(w, "capture", r.capture);
    if (!r.prompt.empty()) raw(w, "prompt", r.prompt, "[]");
    if (r.capture == "full") str(w, "answer", r.answer);
    if (!r.answer_tool_calls.empty()) raw(w, "answer_tool_calls", r.answer_tool_calls, "[]");
    w.EndObject();
  }
  w.EndArray();
  w.Key("truncated"), w.Bool(trace.truncated);
  w.Key("feedback_truncated"), w.Bool(trace.feedback_truncated);
  w.Key("feedback");
  w.StartArray();
  for (const FeedbackRow& f : trace.feedback) {
    w.StartObject();
    w.Key("score"), w.Double(f.score);
    str(w, "comment", f.comment);
    w.Key("received_unix_ns"), w.Int64(f.received_unix_ns);
    str(w, "tenant", f.tenant);
    str(w, "user", f.user);
    str(w, "session", f.session);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

namespace {

void interval(JsonWriter& w, const char* key, const Interval& ci) {
  w.Key(key);
  w.StartArray();
  w.Double(ci.low);
  w.Double(ci.high);
  w.EndArray();
}

void estimate(JsonWriter& w, const char* key, const Estimate& e) {
  w.Key(key);
  w.StartObject();
  w.Key("value"), w.Double(e.value);
  interval(w, "ci95", e.ci);
  w.Key("n"), w.Uint64(e.n);
  w.EndObject();
}

void difference(JsonWriter& w, const char* key, const Difference& d) {
  w.Key(key);
  w.StartObject();
  w.Key("value"), w.Double(d.value);
  interval(w, "ci95", d.ci);
  w.Key("significant"), w.Bool(d.significant);
  w.EndObject();
}

}  // namespace

std::string armsJson(const std::vector<ArmRow>& arms, const std::vector<std::string>& notes) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("arms");
  w.StartArray();
  for (const ArmRow& a : arms) {
    w.StartObject();
    str(w, "arm", a.arm);
    w.Key("baseline"), w.Bool(a.baseline);
    w.Key("requests"), w.Uint64(a.requests);
    estimate(w, "error_rate", a.error_rate);
    estimate(w, "refusal_rate", a.refusal_rate);
    estimate(w, "cost_usd", a.cost_usd);
    estimate(w, "latency_ms", a.latency_ms);
    estimate(w, "feedback", a.feedback);
    if (a.judge.n) estimate(w, "judge", a.judge);
    w.Key("p50_ms"), w.Double(a.p50_ms);
    w.Key("p95_ms"), w.Double(a.p95_ms);
    if (!a.baseline) {
      w.Key("vs_baseline");
      w.StartObject();
      difference(w, "error_rate", a.error_rate_diff);
      difference(w, "refusal_rate", a.refusal_rate_diff);
      difference(w, "cost_usd", a.cost_diff);
      difference(w, "latency_ms", a.latency_diff);
      difference(w, "feedback", a.feedback_diff);
      if (a.judge.n) difference(w, "judge", a.judge_diff);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  if (!notes.empty()) {
    w.Key("notes");
    w.StartArray();
    for (const std::string& n : notes) w.String(n.c_str(), static_cast<rapidjson::SizeType>(n.size()));
    w.EndArray();
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string statsJson(GroupBy by, const std::vector<StatsRow>& rows) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  str(w, "by", groupByName(by));
  w.Key("groups");
  w.StartArray();
  for (const StatsRow& r : rows) {
    double n = r.requests ? static_cast<double>(r.requests) : 1.0;
    w.StartObject();
    str(w, "key", r.key);
    if (r.other) w.Key("other_groups"), w.Uint64(r.groups);  // the groups past the cap, together
    w.Key("requests"), w.Uint64(r.requests);
    w.Key("errors"), w.Uint64(r.errors);
    w.Key("error_rate"), w.Double(static_cast<double>(r.errors) / n);
    w.Key("refusals"), w.Uint64(r.refusals);
    w.Key("refusal_rate"), w.Double(static_cast<double>(r.refusals) / n);
    w.Key("cache_hits"), w.Uint64(r.cache_hits);
    w.Key("latency_ms");
    w.StartObject();
    w.Key("p50"), w.Double(r.p50_ms);
    w.Key("p95"), w.Double(r.p95_ms);
    w.Key("p99"), w.Double(r.p99_ms);
    w.EndObject();
    w.Key("input_tokens"), w.Uint64(r.input_tokens);
    w.Key("output_tokens"), w.Uint64(r.output_tokens);
    w.Key("cost_usd"), w.Double(r.cost_usd);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string bucketedStatsJson(GroupBy by, uint32_t bucket_seconds, int64_t since_unix_ns, int64_t until_unix_ns,
                              const std::vector<SeriesRow>& series) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  str(w, "by", groupByName(by));
  w.Key("bucket_seconds"), w.Uint(bucket_seconds);
  w.Key("since_unix_ns"), w.Int64(since_unix_ns);
  w.Key("until_unix_ns"), w.Int64(until_unix_ns);
  w.Key("series");
  w.StartArray();
  for (const SeriesRow& s : series) {
    w.StartObject();
    str(w, "key", s.key);
    if (s.other) w.Key("other_groups"), w.Uint64(s.groups);
    w.Key("requests"), w.Uint64(s.requests);
    w.Key("cost_usd"), w.Double(s.cost_usd);
    w.Key("buckets");
    w.StartArray();
    for (const BucketRow& b : s.buckets) {
      w.StartObject();
      w.Key("start_unix_ns"), w.Int64(b.start_unix_ns);
      w.Key("requests"), w.Uint64(b.requests);
      w.Key("errors"), w.Uint64(b.errors);
      w.Key("cache_hits"), w.Uint64(b.cache_hits);
      w.Key("input_tokens"), w.Uint64(b.input_tokens);
      w.Key("output_tokens"), w.Uint64(b.output_tokens);
      w.Key("cost_usd"), w.Double(b.cost_usd);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

std::string errorJson(std::string_view type, std::string_view message) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  str(w, "message", message);
  str(w, "type", type);
  w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace outrigger::traces
