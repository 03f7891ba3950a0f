// What a finished record carries of the request's content, as its route's `capture` allows:
// nothing (the default: prompts and answers hold personal data), the prompt's shape without its
// text, or the prompt as the provider last saw it and the answer as the client got it. Never
// more than the guardrails let through: a prompt a guardrail stopped before every request-side
// guardrail had run (a deny, a failure) keeps its shape only, and the record's `capture` is then
// "metadata", the level it holds (no answer text either); an answer the client never got (a
// unary answer denied or failed on the way back) keeps none, and nor does one whose text a
// guardrail gave back the caller's own values (a reversible redaction's restored placeholders).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <outrigger/plugin.h>

#include "telemetry/request_record.h"

namespace outrigger::telemetry {

// What the guardrails let a record keep (see above).
struct CaptureLimits {
  bool prompt_vetted = true;  // every request-side guardrail passed or rewrote the prompt
  bool answer_shown = true;   // the answer's text went to the client, and holds none of its values
};

// Copies into `record` what `capture` allows of `messages` (the request's messages after every
// rewriting step), `answer` and `tool_calls`, within `limits`. Called on the request's loop
// before the views the messages point into are released.
void captureContent(RequestRecord* record, config::Capture capture, const outrigger_message_view* messages,
                    size_t message_count, std::string_view answer, const std::vector<ToolCall>& tool_calls,
                    CaptureLimits limits = {});

}  // namespace outrigger::telemetry
