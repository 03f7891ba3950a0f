// A provider attempt's facts (AttemptFacts, recorded raw on the request path) written out as its
// span's attributes, on the exporter thread: OpenTelemetry GenAI names where they exist, else
// outrigger.*.
//
// Why on the exporter thread: formatting some twenty attributes per attempt (numbers to text,
// the caller's extra settings parsed) on the worker took exporter_bench's fixed-rate p50 to
// 1.17x of the daemon without exporters, with the records built and never exported; without
// that formatting, 0.97x (80 paired rounds each).
#pragma once

#include "telemetry/request_record.h"

namespace outrigger::telemetry {

// Sets the attempt's attributes on `attributes`, replacing values of the same keys.
void describeAttempt(const AttemptFacts& facts, Attributes* attributes);
// The settings a caller sent in extra_json that travel to the provider, as attributes on
// `attributes` (settings only, and the fields' names, bounded).
void describeExtras(std::string_view extra_json, Attributes* attributes);

}  // namespace outrigger::telemetry
