// Translation between Outrigger's request/response views and the OpenAI Chat Completions wire
// format (unary JSON and SSE chunks), plus the mapping of upstream failures to wire statuses.
// Pure functions and a small decoder: no I/O, no host calls, so the tests drive them directly
// with recorded fixtures.
#pragma once

#include <outrigger/plugin.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::providers::openai {

struct WireSettings {
  bool include_usage = true;                 // stream_options.include_usage on streamed calls
  std::string max_tokens_field = "max_tokens";  // or "max_completion_tokens" (o-series)
  std::string model;                         // overrides the request's model when set
};

// The JSON body of POST {base_url}/chat/completions for `request`.
std::string buildChatRequest(const outrigger_request_view& request, const WireSettings& settings);

struct ToolCall {
  std::string id, type, name, arguments;
};

// A whole answer (unary), or what a stream told besides its deltas.
struct Answer {
  std::string content;
  std::string finish_reason;
  std::string model;
  std::vector<ToolCall> tool_calls;
  outrigger_usage usage{};
  bool has_usage = false;
  bool refusal = false;  // content is the model's refusal text
};

// A failure as the provider reports it to the core (which decides about retries).
struct Failure {
  outrigger_code code = OUTRIGGER_CODE_UNAVAILABLE;
  bool retryable = false;
  uint32_t retry_after_ms = 0;
  std::string message;
};

// Parses a 2xx unary body. False (with `failure`) when it is not a usable answer.
bool parseChatResponse(std::string_view body, Answer* answer, Failure* failure);

// Response headers that shape a failure.
struct ErrorHints {
  std::string_view retry_after;     // seconds or an HTTP date
  std::string_view retry_after_ms;  // milliseconds (float)
  std::string_view should_retry;    // x-should-retry: "true" | "false"
};

// An HTTP error status and its body as a failure. A 429 that means quota or spend limit is not
// retryable; `message` never quotes credentials.
Failure mapHttpError(int status, std::string_view body, const ErrorHints& hints, int64_t now_unix_s);

// retry-after-ms first, then retry-after (seconds, or an HTTP date relative to now_unix_s).
// 0 when absent or unparsable; capped at one hour.
uint32_t retryAfterMs(std::string_view retry_after, std::string_view retry_after_ms, int64_t now_unix_s);

// A transport-level end (outrigger_http_error) as a failure.
Failure mapTransportError(outrigger_http_error error, std::string_view detail);

struct ToolCallDelta {
  uint32_t index = 0;
  std::string id, type, name, arguments;
};

struct StreamDelta {
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return content.empty() && tool_calls.empty(); }
};

// The JSON body of POST {base_url}/embeddings for `request`: model, input (an array of the
// texts), dimensions when asked for, user from the metadata, encoding_format "base64" (the
// smaller answer; float answers are accepted too) and the caller's extra fields.
std::string buildEmbeddingsRequest(const outrigger_embed_request_view& request, const WireSettings& settings);

struct Embeddings {
  std::vector<std::vector<float>> vectors;  // in input order (by each item's index)
  std::string model;
  uint32_t prompt_tokens = 0;
};

// Parses a 2xx embeddings body with `expected` vectors, each a float array or base64 of
// little-endian float32. False (with `failure`) when it is not a usable answer.
bool parseEmbeddingsResponse(std::string_view body, size_t expected, Embeddings* out, Failure* failure);

// Standard base64 of little-endian float32 values; false on bad characters or a length that is
// not whole floats.
bool decodeBase64Floats(std::string_view text, std::vector<float>* out);

// Decodes the data payloads of a chat-completion SSE stream in order.
class StreamDecoder {
 public:
  enum class Step { kNothing, kDelta, kDone, kError };
  // One event's data. kDelta fills `delta`; kError fills `failure` (an error event, malformed
  // JSON); kDone is the [DONE] sentinel.
  Step decode(std::string_view data, StreamDelta* delta, Failure* failure);
  // finish_reason, usage and model seen so far.
  const Answer& summary() const { return summary_; }
  bool done() const { return done_; }

 private:
  Answer summary_;
  bool done_ = false;
};

}  // namespace outrigger::providers::openai
