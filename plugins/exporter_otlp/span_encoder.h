// A finished request as OTLP spans (OpenTelemetry GenAI semantic conventions, the names of
// semantic-conventions v1.37-v1.41 that the host's span attributes already use):
//
//   root      SERVER   "{gen_ai.operation.name} {gen_ai.request.model}" (e.g. "chat gpt-4o"), the
//                      request as the sidecar served it; a child of the caller's traceparent span
//   provider  CLIENT   "{gen_ai.operation.name} {gen_ai.request.model}", one per attempt (retries,
//                      fallbacks and hedges each have their own), usage and error.type per attempt
//   guardrail INTERNAL "apply_guardrail {instance}", with a gen_ai.guardrail.result event
//   others    INTERNAL "{stage} {instance}" (cache.lookup, limiter.admit, resilience ...)
//
// The prompt and the answer (gen_ai.input.messages / gen_ai.output.messages, JSON text) are
// written on the attempt that answered only when the record's capture is FULL: they are what the
// host kept after every redacting guardrail. Pure functions: no host, no network.
#pragma once

#include <outrigger/plugin.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "otlp_encoding.h"
#include "otlp_json.h"

namespace outrigger::otlp {

// Appends the record's spans to `out`: in JSON, comma-separated span objects (the inside of a
// "spans" array; a comma first when `out` is not empty); in protobuf, ScopeSpans.spans fields.
// Returns how many spans it wrote: 0 when the record has no valid trace id or root span id
// (nothing is written then).
uint32_t appendRecordSpans(const outrigger_record_view& record, Encoding encoding, std::string* out);

// An ExportTraceServiceRequest around spans appendRecordSpans wrote in `encoding`, with the
// resource in the same encoding (encodedResource).
std::string tracesRequest(Encoding encoding, std::string_view resource, std::string_view spans);

// The gen_ai.input.messages / gen_ai.output.messages JSON text of a record (FULL capture).
std::string inputMessagesJson(const outrigger_record_view& record);
std::string outputMessagesJson(const outrigger_record_view& record);

}  // namespace outrigger::otlp
