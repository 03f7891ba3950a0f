// A request record the exporter's encoding tests share: a streamed request whose guardrail
// passed, whose first attempt failed and whose fallback answered, with every kind of span.
#pragma once

#include <initializer_list>
#include <memory>
#include <utility>

#include "chain/owned_messages.h"
#include "config/config.h"
#include "telemetry/request_record.h"
#include "telemetry/span_trace.h"

namespace outrigger::testing {

inline constexpr uint64_t kStart = 1700000000000000000;

inline telemetry::SpanRecord span(const char* stage, const char* instance, uint64_t offset_ns, uint64_t duration_ns,
                                  const char* outcome, const char* id, telemetry::Attributes attributes) {
  telemetry::SpanRecord s{stage, instance, 100 + offset_ns, duration_ns, outcome};
  s.span_id = id;
  s.parent_span_id = "a1a2a3a4a5a6a7a8";
  s.start_unix_ns = kStart + offset_ns;
  s.attributes = std::move(attributes);
  return s;
}

// A streamed request: its guardrail passed, a first attempt failed UNAVAILABLE, the fallback
// answered with usage including cache reads and reasoning.
inline telemetry::RequestRecord tracedRecord(config::Capture capture) {
  telemetry::RequestRecord r;
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.route_name = "default";
  r.provider = "openai";
  r.model = "gpt-4o";
  r.start_unix_ns = kStart;
  r.duration_ns = 900000000;
  r.time_to_first_chunk_ns = 600000000;
  r.stream = true;
  r.finish_reason = "stop";
  r.usage = {120, 30, 100, 8, 0};
  r.cost_usd = 0.0125;
  r.metadata.tenant = "acme";
  r.metadata.session = "conv-7";
  r.root_span_id = "a1a2a3a4a5a6a7a8";
  r.root_parent_span_id = "00f067aa0ba902b7";
  r.verdicts = {{"input_rules", VerdictKind::kPass, ""}};
  r.spans = {
      span("guardrail.request", "input_rules", 1000, 2000, "continue", "b1b2b3b4b5b6b7b8",
           {{"outrigger.guardrail.verdict", "pass"}, {"outrigger.guardrail.source", "input"}}),
      span("provider", "anthropic", 10000, 200000000, "error", "c1c2c3c4c5c6c7c8",
           {{"gen_ai.operation.name", "chat"}, {"gen_ai.provider.name", "anthropic"},
            {"gen_ai.request.model", "claude-x"}, {"outrigger.status", "UNAVAILABLE"}, {"error.type", "UNAVAILABLE"},
            {"gen_ai.usage.input_tokens", "0"}, {"gen_ai.usage.output_tokens", "0"}}),
      span("provider", "openai", 300000000, 500000000, "ok", "d1d2d3d4d5d6d7d8",
           {{"gen_ai.operation.name", "chat"}, {"gen_ai.provider.name", "openai"}, {"gen_ai.request.model", "gpt-4o"},
            {"gen_ai.response.model", "gpt-4o-2024-08-06"}, {"outrigger.status", "OK"},
            {"gen_ai.usage.input_tokens", "120"}, {"gen_ai.usage.output_tokens", "30"},
            {"gen_ai.usage.cache_read.input_tokens", "100"}, {"gen_ai.usage.reasoning.output_tokens", "8"},
            {"outrigger.cost_usd", "0.0125"}}),
      span("cache.lookup", "memo", 500, 300, "miss", "e1e2e3e4e5e6e7e8", {{"outrigger.cache.hit", "false"}}),
  };
  r.capture = capture;
  if (capture != config::Capture::kNone) {
    static const outrigger_tool_call_view call{{"call_1", 6}, {"function", 8}, {"lookup", 6}, {R"({"q":"x"})", 9}};
    outrigger_message_view m[] = {
        {{"user", 4}, {"my [EMAIL]", capture == config::Capture::kFull ? 10u : 0u}, {}, {}, nullptr, 0},
        {{"assistant", 9}, {}, {}, {}, &call, 1},
        {{"tool", 4}, {"42", capture == config::Capture::kFull ? 2u : 0u}, {}, {"call_1", 6}, nullptr, 0}};
    r.prompt = std::make_shared<chain::OwnedMessages>(std::initializer_list<chain::OwnedMessages::List>{{m, 3}});
    if (capture == config::Capture::kFull) r.answer = "the answer";
  }
  return r;
}

}  // namespace outrigger::testing
