// Translation between Outrigger's request/response views and the OpenAI Chat Completions wire
// format (unary JSON and SSE chunks), plus the mapping of upstream failures to wire statuses.
// Pure functions and a small decoder: no I/O, no host calls, so the tests drive them directly
// with recorded fixtures.
#pragma once

#include <outrigger/plugin.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "wire_common.h"

namespace outrigger::providers::openai {

// The shapes and mappings shared with the other HTTP providers (wire_common.h).
using providers::Answer;
using providers::ErrorHints;
using providers::Failure;
using providers::mapTransportError;
using providers::retryAfterMs;
using providers::StreamDelta;
using providers::ToolCall;
using providers::ToolCallDelta;

struct WireSettings {
  bool include_usage = true;                 // stream_options.include_usage on streamed calls
  std::string max_tokens_field = "max_tokens";  // or "max_completion_tokens" (o-series)
  std::string model;                         // overrides the request's model when set
};

// The JSON body of POST {base_url}/chat/completions for `request` into `body`. False, with an
// INVALID_ARGUMENT `failure` naming the field, when JSON text in the request (a tool's
// parameters, the response schema, tool_choice, extra_json) nests deeper than json::kMaxDepth.
bool buildChatRequest(const outrigger_request_view& request, const WireSettings& settings, std::string* body,
                      Failure* failure);

// Parses a 2xx unary body (within json::kMaxDepth, like every answer parsed here). False (with
// `failure`) when it is not a usable answer.
bool parseChatResponse(std::string_view body, Answer* answer, Failure* failure);

// An HTTP error status and its body as a failure. A 429 that means quota or spend limit is not
// retryable; `message` never quotes credentials.
Failure mapHttpError(int status, std::string_view body, const ErrorHints& hints, int64_t now_unix_s);

// The JSON body of POST {base_url}/embeddings for `request`: model, input (an array of the
// texts), dimensions when asked for, user from the metadata, encoding_format "base64" (the
// smaller answer; float answers are accepted too) and the caller's extra fields. False like
// buildChatRequest when extra_json nests too deeply.
bool buildEmbeddingsRequest(const outrigger_embed_request_view& request, const WireSettings& settings,
                            std::string* body, Failure* failure);

struct Embeddings {
  std::vector<std::vector<float>> vectors;  // in input order (by each item's index)
  std::string model;
  uint32_t prompt_tokens = 0;
};

// Parses a 2xx embeddings body with `expected` vectors, each a float array or base64 of
// little-endian float32. False (with `failure`) when it is not a usable answer, including a
// value that is not a finite float (NaN, infinity, or a number past a float's range).
bool parseEmbeddingsResponse(std::string_view body, size_t expected, Embeddings* out, Failure* failure);

// Standard base64 of little-endian float32 values; false on bad characters or a length that is
// not whole floats.
bool decodeBase64Floats(std::string_view text, std::vector<float>* out);

// Decodes the data payloads of a chat-completion SSE stream in order. Tool call deltas are
// renumbered 0, 1, 2 ... in the order their upstream index first appears: the host keeps a
// call per index, and an index the upstream sent (up to 2^32 - 1) must not size that list.
class StreamDecoder {
 public:
  using Step = DecodeStep;
  // One event's data. kDelta fills `delta`; kError fills `failure` (an error event, malformed
  // JSON); kDone is the [DONE] sentinel.
  Step decode(std::string_view data, StreamDelta* delta, Failure* failure);
  // finish_reason, usage and model seen so far.
  const Answer& summary() const { return summary_; }
  bool done() const { return done_; }

 private:
  Answer summary_;
  bool done_ = false;
  // Upstream tool call index -> the call handed on (its index) and the id and name it began
  // with: a new id at a known index is a new call, and a repeated id or name is not appended.
  struct StreamedCall {
    uint32_t index;
    std::string id, name;
  };
  std::map<uint32_t, StreamedCall> tool_index_;
  uint32_t next_tool_index_ = 0;
  // The index a fragment of the upstream's call `upstream_index` is handed on at; clears what it
  // repeats of the call's id, type and name.
  uint32_t streamedCallIndex(uint32_t upstream_index, ToolCallDelta* t);
};

}  // namespace outrigger::providers::openai
