// Feedback as OTLP log records: the OpenTelemetry GenAI evaluation event, `gen_ai.evaluation.result`
// (semantic-conventions docs/gen-ai/gen-ai-events.md), one per wire Feedback, sent to
// {endpoint}/v1/logs.
//
//   eventName                        gen_ai.evaluation.result
//   traceId                          the feedback's trace id (the answer's trace)
//   spanId                           the answer's root span, when this instance exported it lately
//   gen_ai.evaluation.name           the feedback's tag of that name, else "user_feedback"
//   gen_ai.evaluation.score.value    the score
//   gen_ai.evaluation.score.label    the feedback's tag of that name, when it has one
//   gen_ai.evaluation.explanation    the comment, when there is one
//
// The wire Feedback has no evaluation name or label of its own, so a client gives them as
// metadata tags with those two keys; its other metadata goes where the request span puts it
// (outrigger.tenant, outrigger.request_id, gen_ai.conversation.id, outrigger.tag.<key>).
// Pure functions: no host, no network.
#pragma once

#include <outrigger/plugin.h>

#include <string>
#include <string_view>

#include "otlp_encoding.h"

namespace outrigger::otlp {

inline constexpr char kEvaluationEvent[] = "gen_ai.evaluation.result";
inline constexpr char kDefaultEvaluationName[] = "user_feedback";

// Appends the feedback as one OTLP log record to `out`: a logRecord object (comma-separated, like
// appendRecordSpans) or a ScopeLogs.log_records field. `root_span_id`: the answered request's
// root span id, or empty.
void appendFeedbackLog(const outrigger_feedback_view& feedback, std::string_view root_span_id, Encoding encoding,
                       std::string* out);

// An ExportLogsServiceRequest around log records appendFeedbackLog wrote in `encoding`, with the
// resource in the same encoding (encodedResource).
std::string logsRequest(Encoding encoding, std::string_view resource, std::string_view log_records);

}  // namespace outrigger::otlp
