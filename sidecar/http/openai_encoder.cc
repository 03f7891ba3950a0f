// The OpenAI Chat Completions dialect, over the body builders in chat_response.h.
#include <ctime>

#include "http/chat_request.h"
#include "http/chat_response.h"
#include "http/response_encoder.h"

namespace outrigger::http {
namespace {

class OpenAiEncoder final : public ResponseEncoder {
 public:
  OpenAiEncoder(const ChatCall& call, std::string_view request_id) : include_usage_(call.include_usage) {
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
  CompletionIdentity ident_;
  bool include_usage_;
  bool streamed_refusal_ = false;
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
