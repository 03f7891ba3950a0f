// What only the chain knows about a provider attempt, written on its span as attributes: at its
// start, the target, provider and model it calls and why it runs (the resilience decision that
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
void describeAttemptStart(std::vector<telemetry::SpanRecord>* spans, size_t span, const Target& target,
                          std::string_view model);
void describeAttemptEnd(std::vector<telemetry::SpanRecord>* spans, size_t span, const outrigger_response_view& response);

}  // namespace outrigger::chain
