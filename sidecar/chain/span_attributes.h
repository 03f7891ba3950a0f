// What only the chain knows about a provider attempt, kept on its span as raw facts
// (telemetry::AttemptFacts): at its start, the target, provider, model and sampling parameters it
// calls with and why it runs (the resilience decision that started it, when it is a retry, a
// fallback or a hedge); at its end, its status, usage and cost. The exporter thread writes them
// out as attributes, with everything a span's stage and outcome tell (telemetry/span_trace.h).
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
// How the attempt's cost was priced: "provider", "table", "unpriced" or "none" (a static
// string), and the price-table entry used (empty when none was).
void describeAttemptCost(std::vector<telemetry::SpanRecord>* spans, size_t span, std::string_view source,
                         std::string price_entry);

}  // namespace outrigger::chain
