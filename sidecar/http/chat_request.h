// Turns an OpenAI Chat Completions request body (plus the metadata taken from HTTP headers) into
// the wire Request the chain runs, built with the FlatBuffers builder. Nothing downstream can
// tell which front a request came by.
//
// Mapping: model, messages (text content; string or text parts), temperature, top_p,
// max_completion_tokens / max_tokens, seed, stop, tools, tool_choice and response_format go to
// their wire fields; `user` and `metadata` to the request metadata; stream and
// stream_options.include_usage stay with the front. Every other top-level field is kept, as is,
// in Params.extra_json (a JSON object) so providers and plugins can use it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "chain/engine.h"

namespace outrigger::wire { struct Request; }

namespace outrigger::http {

// Request metadata from HTTP headers, already resolved (virtual key -> tenant and so on).
struct CallMetadata {
  std::string tenant, user, session, request_id, prompt_id, prompt_version, traceparent;
  std::string route;     // x-outrigger-route: names the route instead of the body's model
  bool counting = false;  // count_tokens: a Messages body without max_tokens
  bool cache_bypass = false;
  bool cache_no_store = false;
  uint32_t cache_ttl_ms = 0;
  uint32_t timeout_ms = 0;  // 0: the server default
  // The SDK's read timeout (x-stainless-read-timeout): the longest it waits for bytes, so the whole
  // wait for a unary answer, but only the gap between a stream's chunks.
  uint32_t read_timeout_ms = 0;
  // The request's deadline: timeout_ms, else for a unary call the SDK's read timeout, else for a
  // stream the server's longest (max_timeout_ms clamps it): an SDK bounds a stream's gaps, not the
  // stream, and the short default would cut the long answers people stream for.
  uint32_t deadlineMs(bool stream) const {
    return timeout_ms ? timeout_ms : stream ? UINT32_MAX : read_timeout_ms;
  }
};

// A request ready for Engine::start: `request` points into `frame`.
struct ChatCall {
  chain::FrameBuffer frame;
  const wire::Request* request = nullptr;
  bool stream = false;
  bool include_usage = false;
  std::string model;  // as the caller named it
  std::string route;  // x-outrigger-route: the route by name; `model` still goes to a route naming none
  // Embeddings only (buildEmbeddingsCall): the inputs for Engine::start, and the answer's form.
  std::unique_ptr<chain::EmbedInput> embed;
  bool base64 = false;  // encoding_format "base64": little-endian float32 bytes, base64
  // Responses only: the request's tools, tool_choice, parallel_tool_calls and metadata as sent
  // (a JSON object of those present), which the response object repeats.
  std::string responses_echo;
};

// Why a body was refused, in OpenAI's terms (the HTTP status is always 400).
struct RequestError {
  std::string message;
  std::string param;  // the offending field ("messages[0].role"), or empty
};

// Parses a request body as JSON (json::parse: at most json::kMaxDepth levels deep, so every walk
// over the document is bounded), refusing invalid UTF-8; on failure fills `error` (the HTTP status
// is 400), naming the depth limit when that was the reason.
[[nodiscard]] bool parseBody(std::string_view body, rapidjson::Document* doc, RequestError* error);

// Fills `out`, or `error` and returns false. Never throws; any byte sequence is safe input.
[[nodiscard]] bool buildChatCall(std::string_view body, const CallMetadata& meta, ChatCall* out, RequestError* error);

// An OpenAI embeddings body: `model`, `input` (a string or an array of strings; token arrays are
// refused), `encoding_format` ("float" or "base64"), `dimensions` and `user`. Every other field
// goes to EmbedInput::extra_json. The wire Request carries the model, metadata and deadline.
[[nodiscard]] bool buildEmbeddingsCall(std::string_view body, const CallMetadata& meta, ChatCall* out,
                                       RequestError* error);

}  // namespace outrigger::http
