// The trace of a finished request, completed on the exporter thread before exporters see it:
// span ids, parents, wall-clock starts, and the attributes a span's stage and outcome tell
// (a guardrail's verdict, a cache lookup's hit), and a provider attempt's facts the chain
// recorded raw (its target, model, usage and cost: chain/span_attributes.h), so ids and
// formatting cost the request path nothing.
//
// Shape (OpenTelemetry): the request is the root span, a child of the caller's W3C traceparent
// span when the request carried one and its trace id is the request's; every stage span is a
// child of the root. Ids are 8 random bytes as 16 lowercase hex digits, never all zero, unique
// within the trace (the caller's span id included).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "telemetry/request_record.h"

namespace outrigger::telemetry {

// Sets `key` (a string literal: records keep a view of it) to `value`, replacing an earlier
// value of the same key.
void setAttributeOfStaticKey(Attributes* attributes, std::string_view key, std::string value);
template <size_t N>
void setAttribute(Attributes* attributes, const char (&key)[N], std::string value) {
  setAttributeOfStaticKey(attributes, std::string_view(key, N - 1), std::move(value));
}
// The value of `key`, or nullptr.
const std::string* findAttribute(const Attributes& attributes, std::string_view key);

// The span id in a W3C traceparent ("00-<32 hex trace>-<16 hex span>-<2 hex flags>") whose trace
// id is `trace_id`; empty when the header is malformed, its span id is all zeros, or it names
// another trace.
std::string parentSpanIdOf(std::string_view traceparent, std::string_view trace_id);
// The trace id of a well-formed W3C traceparent (version-traceid-parentid-flags, lower-case hex,
// neither id all zeros, version not ff); "" otherwise, and the request starts a trace of its own.
std::string traceIdOf(std::string_view traceparent);

// Makes span ids. One per exporter thread (not thread-safe).
class SpanIdSource {
 public:
  explicit SpanIdSource(uint64_t seed) : rng_(seed) {}
  // 16 hex digits, never all zero.
  std::string next();

 private:
  std::mt19937_64 rng_;
};

// Fills the record's root span id and parent, and each span's ids, wall-clock start and the
// attributes its attempt's facts, stage and outcome tell. Idempotent for the attributes; ids are
// drawn anew.
void completeTrace(RequestRecord* record, SpanIdSource* ids);

}  // namespace outrigger::telemetry
