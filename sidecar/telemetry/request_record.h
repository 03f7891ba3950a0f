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

// One step of a request. The chain fills the first five members (and a provider attempt's
// attributes, chain/span_attributes.h); the exporter thread fills the ids and the wall-clock
// start before the exporters see it (telemetry/trace_ids.h).
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
