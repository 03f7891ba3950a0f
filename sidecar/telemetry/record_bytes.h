// About how many bytes a finished-request record holds: what the exporter queue's byte bound
// counts. Its strings (metadata, tags, captured prompt and answer, tool calls, span attributes,
// verdict reasons) plus a fixed part for the structures around them.
#pragma once

#include <cstddef>

#include "telemetry/request_record.h"

namespace outrigger::telemetry {

size_t recordBytes(const RequestRecord& record);
size_t feedbackBytes(const FeedbackRecord& feedback);

}  // namespace outrigger::telemetry
