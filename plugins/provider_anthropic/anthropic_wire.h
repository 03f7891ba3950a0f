// Translation between Outrigger's views and the Anthropic Messages API (unary JSON and the SSE
// event stream), plus failure mapping. Pure functions and a decoder, like openai_wire.h; the
// Answer / Failure / StreamDelta shapes come from provider_common's wire_common.h.
#pragma once

#include <outrigger/plugin.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "sse_parser.h"
#include "wire_common.h"

namespace outrigger::providers::anthropic {

using providers::Answer;
using providers::ErrorHints;
using providers::Failure;
using providers::StreamDelta;

struct WireSettings {
  uint32_t default_max_tokens = 4096;  // Anthropic requires max_tokens; used when the caller set none
  std::string model;                   // overrides the request's model when set
};

// The JSON body of POST {base_url}/v1/messages: system messages go to the top-level `system`,
// tool calls become tool_use blocks and tool results user tool_result blocks. False, with an
// INVALID_ARGUMENT `failure` naming the field, when JSON text in the request (tool call
// arguments, a tool's parameters, tool_choice, extra_json) nests deeper than json::kMaxDepth.
bool buildMessagesRequest(const outrigger_request_view& request, const WireSettings& settings, std::string* body,
                          Failure* failure);

// end_turn/stop_sequence/pause_turn -> stop, max_tokens -> length, tool_use -> tool_calls,
// refusal -> content_filter.
std::string finishReason(std::string_view stop_reason);

// Parses a 2xx unary body (within json::kMaxDepth, like every answer parsed here). False (with
// `failure`) when it is not a usable answer.
bool parseMessagesResponse(std::string_view body, Answer* answer, Failure* failure);

// 402 billing and a 429 spend limit are not retryable; 529 overloaded is.
Failure mapHttpError(int status, std::string_view body, const ErrorHints& hints, int64_t now_unix_s);

// Decodes the Messages event stream: message_start, content_block_start/delta/stop,
// message_delta (cumulative usage), message_stop (the terminal event), ping, error. Each
// tool_use block starts a tool call numbered 0, 1, 2 ... in the order the blocks start.
class StreamDecoder {
 public:
  using Step = DecodeStep;
  Step decode(const SseEvent& event, StreamDelta* delta, Failure* failure);
  const Answer& summary() const { return summary_; }
  bool done() const { return done_; }

 private:
  Answer summary_;
  bool done_ = false;
  uint32_t input_tokens_ = 0, cache_creation_ = 0, cache_read_ = 0;
  std::map<uint32_t, uint32_t> tool_index_;  // content block index -> tool call index
  uint32_t tools_started_ = 0;               // tool calls numbered so far: 0 .. tools_started_-1
  std::set<uint32_t> tools_with_input_;      // tool calls some input_json_delta gave text
};

}  // namespace outrigger::providers::anthropic
