// Checks the socket front makes on a verified Request before the chain sees it.
#pragma once

#include "common/status.h"
#include "common/utf8.h"

namespace outrigger::wire { struct Request; struct Feedback; }

namespace outrigger::ipc {

// Every string of a request must be well-formed UTF-8, as the HTTP front's JSON must: the model,
// the metadata (tenant, user, session, ids, traceparent, tags), the messages (role, content, name,
// tool calls) and the params (stop, tools, tool_choice, response format, extra_json). They reach
// logs, records, exporters (where one bad string would cost a whole OTLP batch) and provider
// bodies as JSON text. INVALID_ARGUMENT names the first bad field.
Status checkRequestStrings(const wire::Request& request);

// A trace id is 32 hex digits; anything much longer is not one of ours.
inline constexpr size_t kMaxFeedbackTraceIdBytes = 128;

// Feedback needs a trace_id of at most kMaxFeedbackTraceIdBytes; it, the comment and the
// metadata strings must be well-formed UTF-8 (they reach exporters as JSON text).
Status checkFeedbackStrings(const wire::Feedback& feedback);

}  // namespace outrigger::ipc
