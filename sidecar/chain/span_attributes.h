// What only the chain knows about a provider attempt, written on its span as attributes: at its
// start, the target, provider, model and sampling parameters it calls with and why it runs (the resilience decision that
// started it, when it is a retry, a fallback or a hedge); at its end, its status, usage and
// cost. Everything a span's stage and outcome tell is added later, on the exporter thread
// (telemetry/span_trace.h).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <outrigger/plugin.h>

#include "chain/chain.h"
#include "telemetry/request_record.h"

namespace outrigger::chain {

// `span` indexes `spans`; an index past the end (the request already ended and its spans went
// to its record) is ignored.
// `params`: the request's sampling parameters (gen_ai.request.temperature ...); may be null.
void describeAttemptStart(std::vector<telemetry::SpanRecord>* spans, size_t span, const Target& target,
                          std::string_view model, const outrigger_params_view* params);
void describeAttemptEnd(std::vector<telemetry::SpanRecord>* spans, size_t span, const outrigger_response_view& response);

}  // namespace outrigger::chain
