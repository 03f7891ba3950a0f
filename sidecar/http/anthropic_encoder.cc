// The Anthropic Messages dialect: a `message` object, or the stream message_start,
// content_block_start / _delta / _stop per text or tool_use block, message_delta with the stop
// reason and usage, message_stop; errors as {"type":"error","error":{type,message}}.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "bounded_json.h"
#include "http/chat_request.h"
#include "http/response_encoder.h"

namespace outrigger::http {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

std::string_view stopReason(const ResponseEndInfo& end) {
  if (end.refusal) return "refusal";
  std::string_view finish = end.finish_reason;
  if (finish == "length") return "max_tokens";
  if (finish == "tool_calls") return "tool_use";
  if (finish == "content_filter") return "refusal";
  return "end_turn";
}

std::string_view errorType(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: return "overloaded_error";
    case 504: return "timeout_error";
    default: return "api_error";
  }
}

std::string event(std::string_view name, const rapidjson::StringBuffer& data) {
  std::string out = "event: ";
  out.append(name);
  out += "\ndata: ";
  out.append(data.GetString(), data.GetSize());
  out += "\n\n";
  return out;
}

class AnthropicEncoder final : public ResponseEncoder {
 public:
  AnthropicEncoder(const ChatCall& call, std::string_view request_id)
      : id_("msg_" + std::string(request_id)), model_(call.model) {}

  std::string_view endpoint() const override { return "messages"; }
  void setHead(const AnswerHead& head) override {
    if (!head.model.empty()) model_ = std::string(head.model);
    if (!head.service_tier.empty()) service_tier_ = std::string(head.service_tier);
    if (head.prompt_usage.prompt_tokens) start_usage_ = head.prompt_usage;
  }

  std::string unary(const ResponseEndInfo& end, std::string_view text) override {
    std::string_view content = end.content.empty() ? text : end.content;
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    messageFields(w);
    w.Key("content");
    w.StartArray();
    if (!content.empty()) textBlock(w, content);
    if (end.tool_calls) {
      size_t n = 0;
      for (const ToolCall& c : *end.tool_calls) toolBlock(w, toolId(c.id, n++), c.name, c.arguments);
    }
    w.EndArray();
    w.Key("stop_reason");
    str(w, stopReason(end));
    w.Key("stop_sequence");
    w.Null();
    usage(w, end.usage);
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  }

  std::string streamOpen() override {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("type");
    w.String("message_start");
    w.Key("message");
    w.StartObject();
    messageFields(w);
    w.Key("content");
    w.StartArray();
    w.EndArray();
    w.Key("stop_reason");
    w.Null();
    w.Key("stop_sequence");
    w.Null();
    usage(w, start_usage_);  // what the upstream reported at its start, when it did
    w.EndObject();
    w.EndObject();
    return event("message_start", buf);
  }

  std::string streamChunk(const ResponseChunkInfo& chunk) override {
    std::string out;
    if (!chunk.delta.empty()) {
      if (open_ != kText) out += openBlock(kText, {}, {});
      out += delta("text_delta", "text", chunk.delta);
    }
    for (size_t i = 0; i < chunk.tool_call_count; ++i) {
      const ToolCallDelta& d = chunk.tool_calls[i];
      if (open_ != static_cast<int>(d.index)) out += openBlock(static_cast<int>(d.index), toolId(d.id, d.index), d.name);
      tool_arguments_.append(d.arguments);  // sent whole when the block closes
    }
    return out;
  }

  std::string streamClose(const ResponseEndInfo& end) override {
    std::string out = closeBlock();
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("type");
    w.String("message_delta");
    w.Key("delta");
    w.StartObject();
    w.Key("stop_reason");
    str(w, stopReason(end));
    w.Key("stop_sequence");
    w.Null();
    w.EndObject();
    usage(w, end.usage);
    w.EndObject();
    out += event("message_delta", buf);
    out += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    return out;
  }

  std::string streamError(const ResponseEndInfo& end, const HttpError& e) override {
    rapidjson::StringBuffer buf;
    errorObject(buf, end, e);
    return event("error", buf);
  }

  std::string errorBody(const ResponseEndInfo& end, const HttpError& e) override {
    rapidjson::StringBuffer buf;
    errorObject(buf, end, e);
    return std::string(buf.GetString(), buf.GetSize());
  }

 private:
  static constexpr int kNone = -2;
  static constexpr int kText = -1;  // tool blocks are keyed by their call index (>= 0)

  void messageFields(Writer& w) {
    w.Key("id");
    str(w, id_);
    w.Key("type");
    w.String("message");
    w.Key("role");
    w.String("assistant");
    w.Key("model");
    str(w, model_);
  }

  void usage(Writer& w, const Usage& u) const {
    w.Key("usage");
    w.StartObject();
    // Anthropic's input_tokens leaves out the prompt cache's reads and writes; ours include them.
    uint64_t cached = uint64_t{u.cached_tokens} + u.cache_write_tokens;
    w.Key("input_tokens");
    w.Uint(u.prompt_tokens >= cached ? uint32_t(u.prompt_tokens - cached) : 0);
    w.Key("output_tokens");
    w.Uint(u.completion_tokens);
    w.Key("cache_read_input_tokens");
    w.Uint(u.cached_tokens);
    w.Key("cache_creation_input_tokens");
    w.Uint(u.cache_write_tokens);
    if (!service_tier_.empty()) {
      w.Key("service_tier");
      str(w, service_tier_);
    }
    w.EndObject();
  }

  // Some OpenAI-compatible servers send tool calls without ids; a tool_result must name one, and
  // the SDKs tell calls apart by it.
  std::string toolId(std::string_view id, size_t index) const {
    return id.empty() ? "toolu_" + id_ + "_" + std::to_string(index) : std::string(id);
  }

  static void textBlock(Writer& w, std::string_view text) {
    w.StartObject();
    w.Key("type");
    w.String("text");
    w.Key("text");
    str(w, text);
    w.EndObject();
  }

  // A tool_use block; `arguments` is JSON text (from the provider's answer, so untrusted) and is
  // embedded as an object when it parses within the depth bound, else as {}.
  static void toolBlock(Writer& w, std::string_view id, std::string_view name, std::string_view arguments) {
    w.StartObject();
    w.Key("type");
    w.String("tool_use");
    w.Key("id");
    str(w, id);
    w.Key("name");
    str(w, name);
    w.Key("input");
    rapidjson::Document input;
    if (json::parse(arguments, &input) && input.IsObject()) input.Accept(w);
    else {
      w.StartObject();
      w.EndObject();
    }
    w.EndObject();
  }

  std::string openBlock(int kind, std::string_view id, std::string_view name) {
    std::string out = closeBlock();
    open_ = kind;
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("type");
    w.String("content_block_start");
    w.Key("index");
    w.Uint(index_);
    w.Key("content_block");
    if (kind == kText) textBlock(w, "");
    else toolBlock(w, id, name, "{}");
    w.EndObject();
    return out + event("content_block_start", buf);
  }

  std::string delta(const char* type, const char* field, std::string_view value) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("type");
    w.String("content_block_delta");
    w.Key("index");
    w.Uint(index_);
    w.Key("delta");
    w.StartObject();
    w.Key("type");
    w.String(type);
    w.Key(field);
    str(w, value);
    w.EndObject();
    w.EndObject();
    return event("content_block_delta", buf);
  }

  std::string closeBlock() {
    if (open_ == kNone) return {};
    std::string out;
    // A tool block's arguments go out as one input_json_delta, checked as a whole answer's are:
    // the SDKs parse the joined fragments at the block's end, and arguments a model got wrong
    // (`{city: Paris}`) raised there, where the whole answer has {}.
    if (open_ >= 0 && !tool_arguments_.empty()) {
      rapidjson::Document input;
      bool object = json::parse(tool_arguments_, &input) && input.IsObject();
      out += delta("input_json_delta", "partial_json", object ? std::string_view(tool_arguments_) : std::string_view("{}"));
    }
    tool_arguments_.clear();
    out += "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":" + std::to_string(index_) + "}\n\n";
    open_ = kNone;
    ++index_;
    return out;
  }

  static void errorObject(rapidjson::StringBuffer& buf, const ResponseEndInfo& end, const HttpError& e) {
    Writer w(buf);
    w.StartObject();
    w.Key("type");
    w.String("error");
    w.Key("error");
    w.StartObject();
    w.Key("type");
    str(w, errorType(e.status));
    w.Key("message");
    str(w, end.message);
    w.EndObject();
    w.EndObject();
  }

  std::string id_;
  std::string model_;
  std::string service_tier_;
  Usage start_usage_;
  int open_ = kNone;
  unsigned index_ = 0;
  std::string tool_arguments_;  // of the open tool block, held until it closes
};

}  // namespace

std::unique_ptr<ResponseEncoder> makeAnthropicEncoder(const ChatCall& call, std::string_view request_id) {
  return std::make_unique<AnthropicEncoder>(call, request_id);
}

}  // namespace outrigger::http
