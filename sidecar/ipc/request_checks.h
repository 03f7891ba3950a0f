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
// bodies as JSON text. INVALID_ARGUMENT names the first bad field. So does an enum value this
// daemon does not know (params.response_format.type), which FlatBuffers' verifier lets through.
// It also applies checkRequestBounds, and refuses a request whose strings add up to more than
// twice `frame_bytes`, its frame's size (fields sharing strings).
Status checkRequestStrings(const wire::Request& request, size_t frame_bytes);

// Bounds on what a caller names itself by. These strings key limiter and budget tables, metric
// series, trace rows and exporter records, each of which counts keys, not bytes: a 4 MB session
// id would make every bound by count a bound of gigabytes. A tag may hold what OpenAI's
// `metadata` does (up to 16 pairs, keys of 64 and values of 512 characters, which are at most
// these bytes), with room for the tags the fronts add.
inline constexpr size_t kMaxMetadataIdBytes = 256;  // tenant, user, session, ids, traceparent
inline constexpr size_t kMaxModelBytes = 256;
inline constexpr size_t kMaxTags = 32;
inline constexpr size_t kMaxTagKeyBytes = 256;
inline constexpr size_t kMaxTagValueBytes = 2048;
// OpenAI's own limit on functions a request may declare.
inline constexpr size_t kMaxTools = 128;

// The model, metadata and tool count against the bounds above (the HTTP front calls it on the
// request it built; the socket front through checkRequestStrings). INVALID_ARGUMENT names the
// field.
Status checkRequestBounds(const wire::Request& request);

// A trace id is 32 hex digits; anything much longer is not one of ours.
inline constexpr size_t kMaxFeedbackTraceIdBytes = 128;
// A comment is a person's note on an answer, not a document.
inline constexpr size_t kMaxFeedbackCommentBytes = 16384;

// Feedback needs a trace_id of at most kMaxFeedbackTraceIdBytes and a comment of at most
// kMaxFeedbackCommentBytes; they and the metadata strings must be well-formed UTF-8 (they reach
// exporters as JSON text), and the metadata keeps checkRequestMetadata's bounds. The score must
// be a finite number (JSON has no NaN or infinity).
Status checkFeedbackStrings(const wire::Feedback& feedback);

}  // namespace outrigger::ipc
