// The answer, failure and stream-delta shapes every HTTP provider reports in, plus the
// dialect-independent failure mapping: HTTP statuses, retry hints and transport errors.
// Pure functions: no I/O, no host calls.
#pragma once

#include <outrigger/plugin.h>
#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bounded_json.h"

namespace outrigger::providers {

struct ToolCall {
  std::string id, type, name, arguments;
};

// A whole answer (unary), or what a stream told besides its deltas.
struct Answer {
  std::string content;
  std::string finish_reason;
  std::string model;
  std::string id;  // the upstream's id of the answer (chatcmpl-..., msg_...): gen_ai.response.id
  std::vector<ToolCall> tool_calls;
  outrigger_usage usage{};
  uint32_t cache_write_tokens = 0;  // prompt tokens written to the prompt cache (part of usage.prompt_tokens)
  bool has_usage = false;
  bool refusal = false;  // content is the model's refusal text
  std::string system_fingerprint;  // OpenAI's backend configuration id
  std::string service_tier;        // the tier the upstream served the answer on
};

// A failure as the provider reports it to the core (which decides about retries).
struct Failure {
  Failure() = default;
  Failure(outrigger_code c, bool r, uint32_t after_ms, std::string m)
      : code(c), retryable(r), retry_after_ms(after_ms), message(std::move(m)) {}

  outrigger_code code = OUTRIGGER_CODE_UNAVAILABLE;
  bool retryable = false;
  uint32_t retry_after_ms = 0;
  std::string message;
  // The upstream's own error type and code (OpenAI's error.type and error.code, Anthropic's
  // error.type and error.details.error_code), passed on to callers as they were.
  std::string upstream_type, upstream_code;
};

// Response headers that shape a failure.
struct ErrorHints {
  std::string_view retry_after;     // seconds or an HTTP date
  std::string_view retry_after_ms;  // milliseconds (float)
  std::string_view should_retry;    // x-should-retry: "true" | "false"
};

struct ToolCallDelta {
  uint32_t index = 0;
  std::string id, type, name, arguments;
};

struct StreamDelta {
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  bool refusal = false;  // `content` is refusal text
  // What the stream said so far about the answer (model, fingerprint, tier, the prompt's usage
  // at message_start): the decoder's summary, sent along with every chunk.
  const Answer* head = nullptr;
  bool empty() const { return content.empty() && tool_calls.empty(); }
};

// What a stream decoder made of one event.
enum class DecodeStep { kNothing, kDelta, kDone, kError };

// The code and retryability an HTTP error status stands for (message and hints not applied).
Failure httpStatusFailure(int status);

// x-should-retry overrides retryability; retry-after(-ms) sets retry_after_ms.
void applyRetryHints(Failure* failure, const ErrorHints& hints, int64_t now_unix_s);

// retry-after-ms first, then retry-after (seconds, or an HTTP date relative to now_unix_s).
// 0 when absent or unparsable; capped at one hour.
uint32_t retryAfterMs(std::string_view retry_after, std::string_view retry_after_ms, int64_t now_unix_s);

// A transport-level end (outrigger_http_error) as a failure.
Failure mapTransportError(outrigger_http_error error, std::string_view detail);

// Parses JSON an upstream sent. Text that is not UTF-8 does not parse: what an answer carries goes
// on to callers, whose JSON and SDKs need UTF-8.
json::ParseResult parseUpstream(std::string_view text, rapidjson::Document* d);
// Why upstream JSON did not parse, for a malformed answer's message: too deep, not UTF-8, or
// `otherwise`.
std::string unparsedReason(const json::ParseResult& parsed, std::string_view otherwise);

// At most `max_bytes` of a message the upstream sent, for a failure's message: cut between UTF-8
// code points, so a cut never leaves half a character in the text the caller gets.
std::string upstreamQuote(std::string_view text, size_t max_bytes = 300);

}  // namespace outrigger::providers
