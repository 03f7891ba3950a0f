// How one API dialect writes the chain's outcome: the unary body, the server-sent events of a
// stream, and error bodies. ChatExchange owns the HTTP mechanics (headers, backpressure, client
// disconnects) and asks an encoder for the bytes, so OpenAI's Chat Completions and Anthropic's
// Messages share everything but the shapes.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "api/response_sink.h"
#include "http/error_mapping.h"

namespace outrigger::http {

// What an answer says about itself besides its text, as the upstream said it. Every stream event
// repeats some of it, so the chain tells it before the first byte is written.
struct AnswerHead {
  std::string_view model;  // empty: keep the one the request named
  std::string_view system_fingerprint;
  std::string_view service_tier;
  Usage prompt_usage;  // the prompt's tokens when known at the start (Anthropic's message_start)
};

class ResponseEncoder {
 public:
  virtual ~ResponseEncoder() = default;

  // The metrics label of the endpoint ("chat_completions", "messages").
  virtual std::string_view endpoint() const = 0;
  virtual void setHead(const AnswerHead& head) = 0;

  // A whole answer. `text` is the content when the chain streamed it in chunks.
  virtual std::string unary(const ResponseEndInfo& end, std::string_view text) = 0;
  // The events right after the stream's headers.
  virtual std::string streamOpen() = 0;
  virtual std::string streamChunk(const ResponseChunkInfo& chunk) = 0;
  // The closing events of a successful stream.
  virtual std::string streamClose(const ResponseEndInfo& end) = 0;
  // A failure after the stream started (the status line already said 200).
  virtual std::string streamError(const ResponseEndInfo& end, const HttpError& e) = 0;
  // The body of an error answer.
  virtual std::string errorBody(const ResponseEndInfo& end, const HttpError& e) = 0;
};

struct ChatCall;

// OpenAI Chat Completions (chat.completion / chat.completion.chunk / [DONE]).
std::unique_ptr<ResponseEncoder> makeOpenAiEncoder(const ChatCall& call, std::string_view request_id);
// OpenAI Responses (response / response.created ... response.completed).
std::unique_ptr<ResponseEncoder> makeResponsesEncoder(const ChatCall& call, std::string_view request_id);
// Anthropic Messages (message / message_start ... message_stop).
std::unique_ptr<ResponseEncoder> makeAnthropicEncoder(const ChatCall& call, std::string_view request_id);

// The lowercase status name used as an error `code` ("resource_exhausted").
std::string lowerCodeName(Code code);
// An error body's `code` in OpenAI's shapes: OpenAI's own "model_not_found" for a model no
// route serves, else lowerCodeName.
std::string errorCode(const ResponseEndInfo& end);
// Its `type`: the upstream's own when it gave one, else the status's.
std::string_view errorType(const ResponseEndInfo& end, const HttpError& e);

}  // namespace outrigger::http
