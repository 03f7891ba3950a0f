// Everything known about a finished request, copied out of the request so the exporter thread
// can read it after the request's memory is gone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/response_sink.h"
#include "config/config.h"

namespace outrigger::chain { class WorkerChain; struct Route; class OwnedMessages; }

namespace outrigger::telemetry {

// Keys are string literals (setAttribute takes nothing else): a record carries dozens of them,
// and a key copied to the heap per span and request is most of a record's allocations.
using Attributes = std::vector<std::pair<std::string_view, std::string>>;

// What the chain knows of a provider attempt (chain/span_attributes.h), kept raw on the request
// path: the exporter thread writes it out as the span's attributes (telemetry/attempt_attributes.h).
// The target, provider, model and sampling parameters it called with and why it ran (the
// resilience decision that started a retry, a fallback or a hedge); its status, usage and cost;
// how the cost was priced.
struct AttemptFacts {
  // At the start. The two views name config the record's chain keeps alive.
  bool started = false;
  std::string_view provider;  // the provider instance's name
  std::string_view target;    // the target's key
  std::string model;
  uint32_t params_present = 0;  // OUTRIGGER_PARAM_* bits of the four below
  float temperature = 0, top_p = 0;
  uint32_t max_tokens = 0;
  int64_t seed = 0;
  // The caller's provider-specific settings (a JSON object), kept whole up to kMaxKeptExtraJson
  // bytes; a larger one is described on the request path into extra_attributes, so a queued
  // record stays small whatever a caller sends.
  static constexpr size_t kMaxKeptExtraJson = 4096;
  std::string extra_json;
  Attributes extra_attributes;
  std::string retry_reason;  // the resilience outcome that started it; empty for a first try
  // At the end.
  bool ended = false;
  int32_t code = 0;
  std::string response_model, response_id, system_fingerprint, service_tier;
  bool refusal = false;
  Usage usage;
  double cost_usd = 0;
  // From pricing (chain/provider_cost.cc): "provider", "table", "unpriced" or "none", and the
  // price-table entry used.
  std::string_view cost_source;
  std::string cost_price;
};

// One step of a request. The chain fills the first five members (a provider attempt's facts,
// and attributes a plugin sets); the exporter thread fills the ids, the wall-clock start and the
// attributes before the exporters see it (telemetry/span_trace.h).
struct SpanRecord {
  std::string stage;     // guardrail.request | cache.lookup | provider | guardrail.response | cache.store ...
  std::string instance;
  uint64_t start_ns = 0;
  uint64_t duration_ns = 0;
  std::string outcome;
  Attributes attributes = {};  // OpenTelemetry GenAI names where they exist, else outrigger.*
  std::string span_id = {};         // 16 hex digits; set by the exporter thread, or ahead for a
                                    // model call's span (its child request's parent)
  std::string parent_span_id = {};  // the request's root span
  uint64_t start_unix_ns = 0;
  // A provider attempt's span only. Copies of a span share it (the chain moves spans; tests copy).
  std::shared_ptr<AttemptFacts> attempt = {};
};


struct MetadataRecord {
  std::string tenant, user, session, request_id, prompt_id, prompt_version, traceparent;
  std::vector<std::pair<std::string, std::string>> tags;
};

struct RequestRecord {
  std::shared_ptr<const chain::WorkerChain> chain;  // keeps the route's exporters alive
  const chain::Route* route = nullptr;
  std::string trace_id, route_name, provider, model;
  MetadataRecord metadata;
  uint64_t start_unix_ns = 0;
  uint64_t duration_ns = 0;
  uint64_t time_to_first_chunk_ns = 0;
  Code code = Code::kOk;
  bool stream = false;
  bool cache_hit = false;
  std::string origin, message, finish_reason;
  Usage usage;
  double cost_usd = 0;
  bool cost_unpriced = false;  // an attempt reported usage for a model with no price
  std::vector<SpanRecord> spans;
  std::vector<Verdict> verdicts;
  // Tracing: the monotonic time start_unix_ns was taken at (span starts convert from it), the
  // root span (the request itself) and its parent, the caller's traceparent span id.
  uint64_t start_mono_ns = 0;
  std::string root_span_id, root_parent_span_id;
  // Content, as the route's `capture` allows (telemetry/record_content.h).
  config::Capture capture = config::Capture::kNone;
  std::shared_ptr<const chain::OwnedMessages> prompt;  // null unless captured
  std::string answer;
  std::vector<ToolCall> answer_tool_calls;
};

// A score for an earlier answer (the wire Feedback), on its way to every exporter of the chain
// it arrived under.
struct FeedbackRecord {
  std::shared_ptr<const chain::WorkerChain> chain;  // keeps the exporters alive
  std::string trace_id;
  double score = 0;
  std::string comment;
  MetadataRecord metadata;
  uint64_t received_unix_ns = 0;
};

}  // namespace outrigger::telemetry
