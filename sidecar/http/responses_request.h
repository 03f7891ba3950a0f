// Turns an OpenAI Responses API request body (POST /v1/responses) into the chain's request by
// translating it to the Chat Completions body it means and building that (chat_request.h), so
// both fronts share one mapping and one set of checks.
//
// Mapped: model, instructions (a system message), input (a string, or a list of message,
// function_call and function_call_output items; reasoning items are dropped), tools (function
// tools), tool_choice, parallel_tool_calls, text.format (json_schema, json_object, text),
// text.verbosity, max_output_tokens, temperature, top_p, metadata, user, reasoning.effort, stream.
// Refused with a 400 naming the field: previous_response_id and conversation (they need stored
// responses, which this gateway does not keep), background, a stored prompt, built-in tools
// (web_search, file_search ...), and input parts other than text. store, include, truncation,
// stream_options and max_tool_calls are accepted and ignored: nothing is stored or
// retrievable. Other fields go on as the Chat Completions front keeps unknown ones.
#pragma once

#include <string_view>

#include "http/chat_request.h"

namespace outrigger::http {

// Fills `out`, or `error` and returns false. Never throws; any byte sequence is safe input.
[[nodiscard]] bool buildResponsesCall(std::string_view body, const CallMetadata& meta, ChatCall* out,
                                      RequestError* error);

}  // namespace outrigger::http
