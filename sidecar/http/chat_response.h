// OpenAI-shaped response bodies: the unary chat.completion object, the chat.completion.chunk
// server-sent events (with the optional usage chunk and [DONE]), error objects and the model list.
// Pure functions returning text; the caller owns sending it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/response_sink.h"

namespace outrigger::http {

// What every object of one completion repeats.
struct CompletionIdentity {
  std::string id;       // "chatcmpl-<trace id>"
  int64_t created = 0;  // unix seconds, the same on every chunk
  std::string model;
  std::string system_fingerprint = {};  // empty: null
  std::string service_tier = {};        // empty: left out
};

// {"id","object":"chat.completion","created","model","choices":[...],"usage":{...}}. A refusal
// is message.refusal with content null, finishing "stop" as OpenAI's do.
std::string completionBody(const CompletionIdentity& ident, const ResponseEndInfo& end);

struct ChunkDelta {
  bool role = false;  // the first chunk names the assistant role (with content "")
  std::string_view content;
  bool has_content = false;
  bool refusal = false;  // `content` is refusal text: written as delta.refusal
  const ToolCallDelta* tool_calls = nullptr;
  size_t tool_call_count = 0;
  std::string_view finish_reason;  // empty: null
};

// One "data: {chat.completion.chunk}\n\n" event. `usage_null` adds "usage": null, as OpenAI does
// on every chunk when the caller asked for include_usage.
std::string chunkEvent(const CompletionIdentity& ident, const ChunkDelta& delta, bool usage_null);
// The include_usage chunk: "choices": [] and the totals.
std::string usageEvent(const CompletionIdentity& ident, const Usage& usage);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";

// {"error":{"message","type","param","code"}}; empty param/code are written as null.
std::string errorBody(std::string_view message, std::string_view type, std::string_view param, std::string_view code);
// The same object as a server-sent event, for failures after the stream started.
std::string errorEvent(std::string_view message, std::string_view type, std::string_view code);

// {"object":"list","data":[{"id","object":"model","created":0,"owned_by":"outrigger"}...]}
std::string modelListBody(const std::vector<std::string>& ids);
std::string modelBody(std::string_view id);

}  // namespace outrigger::http
