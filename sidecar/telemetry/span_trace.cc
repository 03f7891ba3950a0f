#include "telemetry/span_trace.h"

#include <algorithm>
#include <vector>

#include "telemetry/attempt_attributes.h"

namespace outrigger::telemetry {
namespace {

bool isLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool allZeros(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

// A guardrail span's outcome as the verdict it gave (values of outrigger_verdict's names, plus
// what only a span knows: a re-ask, a hook that failed or was cancelled).
std::string_view verdictOf(std::string_view outcome) {
  if (outcome == "continue") return "pass";
  if (outcome == "stop") return "deny";
  return outcome;  // flag | rewrite | reask | error | cancelled
}

// What a span's stage and outcome tell, in the attribute names exporters share.
void describeByStage(SpanRecord* s) {
  std::string_view stage = s->stage;
  if (stage.rfind("guardrail.", 0) == 0) {
    if (!s->outcome.empty()) setAttribute(&s->attributes, "outrigger.guardrail.verdict", std::string(verdictOf(s->outcome)));
    setAttribute(&s->attributes, "outrigger.guardrail.source", stage == "guardrail.request" ? "input" : "model_response");
  } else if (stage == "cache.lookup") {
    if (s->outcome == "hit" || s->outcome == "miss") {
      setAttribute(&s->attributes, "outrigger.cache.hit", s->outcome == "hit" ? "true" : "false");
    }
  } else if (stage == "provider" || stage == "provider.embed") {
    // An attempt's facts are described first (describeAttempt); these hold for one cut short too.
    if (!findAttribute(s->attributes, "gen_ai.operation.name")) {
      setAttribute(&s->attributes, "gen_ai.operation.name", stage == "provider" ? "chat" : "embeddings");
    }
    if (!findAttribute(s->attributes, "gen_ai.provider.name")) setAttribute(&s->attributes, "gen_ai.provider.name", s->instance);
    if (s->outcome == "cancelled" && !findAttribute(s->attributes, "outrigger.status")) {
      setAttribute(&s->attributes, "outrigger.status", "CANCELLED");
    }
  }
}

}  // namespace

void setAttributeOfStaticKey(Attributes* attributes, std::string_view key, std::string value) {
  for (auto& [k, v] : *attributes) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  attributes->emplace_back(key, std::move(value));
}

const std::string* findAttribute(const Attributes& attributes, std::string_view key) {
  for (const auto& [k, v] : attributes) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string traceIdOf(std::string_view tp) {
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return {};
  std::string_view version = tp.substr(0, 2), trace = tp.substr(3, 32), span = tp.substr(36, 16), flags = tp.substr(53, 2);
  if (!isLowerHex(version) || version == "ff" || !isLowerHex(flags)) return {};
  if (!isLowerHex(trace) || allZeros(trace) || !isLowerHex(span) || allZeros(span)) return {};
  // Version 00 is exactly 55 characters; a later version may add fields after a '-'.
  if (tp.size() > 55 && (version == "00" || tp[55] != '-')) return {};
  return std::string(trace);
}

std::string parentSpanIdOf(std::string_view tp, std::string_view trace_id) {
  if (trace_id.empty() || traceIdOf(tp) != trace_id) return {};  // traceIdOf checked the span id too
  return std::string(tp.substr(36, 16));
}

std::string SpanIdSource::next() {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = 0;
  while (v == 0) v = rng_();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) id[i] = kHex[v & 0xf];
  return id;
}

void completeTrace(RequestRecord* r, SpanIdSource* ids) {
  std::vector<std::string> used;
  used.reserve(r->spans.size() + 2);
  auto fresh = [&] {
    for (;;) {
      std::string id = ids->next();
      if (std::find(used.begin(), used.end(), id) == used.end()) {
        used.push_back(id);
        return id;
      }
    }
  };
  r->root_parent_span_id = parentSpanIdOf(r->metadata.traceparent, r->trace_id);
  if (!r->root_parent_span_id.empty()) used.push_back(r->root_parent_span_id);
  // A span named on the request path keeps its id: a model call's child request names it as
  // its parent.
  for (const SpanRecord& s : r->spans) {
    if (!s.span_id.empty()) used.push_back(s.span_id);
  }
  r->root_span_id = fresh();
  for (SpanRecord& s : r->spans) {
    if (s.span_id.empty()) s.span_id = fresh();
    s.parent_span_id = r->root_span_id;
    // A span started before the request's clocks were read (none should) starts with it.
    s.start_unix_ns = r->start_unix_ns + (s.start_ns > r->start_mono_ns ? s.start_ns - r->start_mono_ns : 0);
    if (s.attempt) describeAttempt(*s.attempt, &s.attributes);
    describeByStage(&s);
  }
}

}  // namespace outrigger::telemetry
