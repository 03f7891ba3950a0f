// The OpenAI Chat Completions dialect, over the body builders in chat_response.h.
#include <algorithm>
#include <ctime>
#include <deque>
#include <set>
#include <vector>

#include "http/chat_request.h"
#include "http/chat_response.h"
#include "http/response_encoder.h"

namespace outrigger::http {
namespace {

class OpenAiEncoder final : public ResponseEncoder {
 public:
  OpenAiEncoder(const ChatCall& call, std::string_view request_id)
      : include_usage_(call.include_usage), request_id_(request_id) {
    ident_.id = "chatcmpl-" + std::string(request_id);
    ident_.created = static_cast<int64_t>(std::time(nullptr));
    ident_.model = call.model;
  }

  std::string_view endpoint() const override { return "chat_completions"; }
  void setHead(const AnswerHead& head) override {
    if (!head.model.empty()) ident_.model = std::string(head.model);
    if (!head.system_fingerprint.empty()) ident_.system_fingerprint = std::string(head.system_fingerprint);
    if (!head.service_tier.empty()) ident_.service_tier = std::string(head.service_tier);
  }

  std::string unary(const ResponseEndInfo& end, std::string_view text) override {
    ResponseEndInfo whole = end;
    if (whole.content.empty()) whole.content = text;
    std::vector<ToolCall> calls;
    if (end.tool_calls && std::any_of(end.tool_calls->begin(), end.tool_calls->end(), [](const ToolCall& c) { return c.id.empty(); })) {
      calls = *end.tool_calls;
      for (size_t i = 0; i < calls.size(); ++i) {
        if (calls[i].id.empty()) calls[i].id = toolId(i);
      }
      whole.tool_calls = &calls;
    }
    return completionBody(ident_, whole);
  }

  std::string streamOpen() override {
    ChunkDelta first;
    first.role = true;
    return chunkEvent(ident_, first, include_usage_);
  }

  std::string streamChunk(const ResponseChunkInfo& chunk) override {
    ChunkDelta d;
    d.content = chunk.delta;
    d.has_content = !chunk.delta.empty() || chunk.tool_call_count == 0;
    d.refusal = chunk.refusal;
    streamed_refusal_ = streamed_refusal_ || chunk.refusal;
    d.tool_calls = chunk.tool_calls;
    d.tool_call_count = chunk.tool_call_count;
    // The first fragment of each call carries its id and type, which the SDKs build the call
    // from (openai-node throws without a type); an upstream that sent none gets one made up.
    std::vector<ToolCallDelta> named;
    for (size_t i = 0; i < chunk.tool_call_count; ++i) {
      const ToolCallDelta& c = chunk.tool_calls[i];
      if (!introduced_.insert(c.index).second || !c.id.empty()) continue;
      if (named.empty()) named.assign(chunk.tool_calls, chunk.tool_calls + chunk.tool_call_count);
      named[i].id = made_up_ids_.emplace_back(toolId(c.index));
    }
    if (!named.empty()) d.tool_calls = named.data();
    return chunkEvent(ident_, d, include_usage_);
  }

  std::string streamClose(const ResponseEndInfo& end) override {
    ChunkDelta last;
    // A refusal streamed as delta.refusal finishes "stop", as OpenAI's own do.
    bool plain_stop = end.finish_reason.empty() || (streamed_refusal_ && end.finish_reason == "content_filter");
    last.finish_reason = plain_stop ? std::string_view("stop") : end.finish_reason;
    std::string tail = chunkEvent(ident_, last, include_usage_);
    if (include_usage_) tail += usageEvent(ident_, end.usage);
    tail += kDoneEvent;
    return tail;
  }

  std::string streamError(const ResponseEndInfo& end, const HttpError& e) override {
    return errorEvent(end.message, errorType(end, e), errorCode(end));
  }

  std::string errorBody(const ResponseEndInfo& end, const HttpError& e) override {
    return http::errorBody(end.message, errorType(end, e), "", errorCode(end));
  }

 private:
  // Some OpenAI-compatible servers (vLLM, Ollama ...) send tool calls without ids; a tool
  // message must name one, and the SDKs tell calls apart by it.
  std::string toolId(size_t index) const { return "call_" + request_id_ + "_" + std::to_string(index); }

  CompletionIdentity ident_;
  bool include_usage_;
  bool streamed_refusal_ = false;
  std::string request_id_;
  std::set<uint32_t> introduced_;       // the calls whose first fragment went out
  std::deque<std::string> made_up_ids_;  // the ids the deltas view
};

}  // namespace

std::string_view errorType(const ResponseEndInfo& end, const HttpError& e) {
  return end.upstream_error_type.empty() ? std::string_view(e.type) : end.upstream_error_type;
}

std::string lowerCodeName(Code code) {
  std::string name(codeName(code));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string errorCode(const ResponseEndInfo& end) {
  if (!end.upstream_error_code.empty()) return std::string(end.upstream_error_code);
  if (end.code == Code::kNotFound && end.origin == "router") return "model_not_found";
  return lowerCodeName(end.code);
}

std::unique_ptr<ResponseEncoder> makeOpenAiEncoder(const ChatCall& call, std::string_view request_id) {
  return std::make_unique<OpenAiEncoder>(call, request_id);
}

}  // namespace outrigger::http
