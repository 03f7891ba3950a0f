// Turns an Anthropic Messages request body into the wire Request the chain runs, so the official
// anthropic SDKs work by changing their base URL, exactly like the OpenAI ones.
//
// Mapping: `system` (string or text blocks) becomes a leading system message; each turn's text
// blocks join into its content; an assistant's tool_use blocks become its tool calls (input as
// JSON text); a user's tool_result blocks become messages with role "tool". max_tokens (required),
// stop_sequences, temperature, top_p, tools (input_schema) and tool_choice go to their wire
// fields; metadata.user_id to the user; anything else (top_k, thinking ...) to Params.extra_json.
// Images and documents are refused with 400 until the wire protocol carries them.
#pragma once

#include <string_view>

#include "http/chat_request.h"

namespace outrigger::http {

// Fills `out`, or `error` and returns false. Never throws; any byte sequence is safe input.
[[nodiscard]] bool buildMessagesCall(std::string_view body, const CallMetadata& meta, ChatCall* out,
                                     RequestError* error);

}  // namespace outrigger::http
