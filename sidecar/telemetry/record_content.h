// What a finished record carries of the request's content, as its route's `capture` allows:
// nothing (the default: prompts and answers hold personal data), the prompt's shape without its
// text, or the prompt as the provider last saw it and the answer as the client got it.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <outrigger/plugin.h>

#include "telemetry/request_record.h"

namespace outrigger::telemetry {

// Copies into `record` what `capture` allows of `messages` (the request's messages after every
// rewriting step), `answer` and `tool_calls`. Called on the request's loop before the views
// the messages point into are released.
void captureContent(RequestRecord* record, config::Capture capture, const outrigger_message_view* messages,
                    size_t message_count, std::string_view answer, const std::vector<ToolCall>& tool_calls);

}  // namespace outrigger::telemetry
