// The OpenAI Responses dialect: a `response` object, or its typed event stream:
// response.created, response.in_progress, then per output item response.output_item.added,
// (text) response.content_part.added, response.output_text.delta ..., response.output_text.done,
// response.content_part.done, (function call) response.function_call_arguments.delta ...,
// response.function_call_arguments.done, and response.output_item.done; last
// response.completed (or response.incomplete when the answer hit max_output_tokens or a content
// filter, its items incomplete too). A failure
// after the stream started is an `error` event, then response.failed. Every event carries its
// sequence_number.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <ctime>
#include <map>

#include "http/chat_request.h"
#include "http/response_encoder.h"

namespace outrigger::http {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

// One output item as the stream builds it.
struct Item {
  bool text = false;  // a message with one output_text (or refusal) part; else a function call
  bool refusal = false;  // the message's part is the model's refusal
  std::string id, call_id, name, content;  // content: the text, or the call's arguments
};

class ResponsesEncoder final : public ResponseEncoder {
 public:
  ResponsesEncoder(const ChatCall& call, std::string_view request_id)
      : request_id_(request_id), id_("resp_" + std::string(request_id)), model_(call.model),
        created_(static_cast<int64_t>(std::time(nullptr))) {
    if (!call.responses_echo.empty()) echo_.Parse(call.responses_echo.c_str());
    if (!echo_.IsObject()) echo_.SetObject();
  }

  std::string_view endpoint() const override { return "responses"; }
  void setHead(const AnswerHead& head) override {
    if (!head.model.empty()) model_ = std::string(head.model);
    if (!head.service_tier.empty()) service_tier_ = std::string(head.service_tier);
  }

  std::string unary(const ResponseEndInfo& end, std::string_view text) override {
    std::string_view content = end.content.empty() ? text : end.content;
    if (!content.empty()) items_.push_back({true, end.refusal, "msg_" + request_id_, "", "", std::string(content)});
    if (end.tool_calls) {
      size_t n = 0;
      for (const ToolCall& c : *end.tool_calls) {
        items_.push_back({false, false, callItemId(items_.size()), callId(c.id, n++), c.name, c.arguments});
      }
    }
    rapidjson::StringBuffer buf;
    Writer w(buf);
    response(w, statusOf(end), &end);
    return std::string(buf.GetString(), buf.GetSize());
  }

  std::string streamOpen() override {
    std::string out = event("response.created", [&](Writer& w) {
      w.Key("response");
      response(w, "in_progress", nullptr);
    });
    out += event("response.in_progress", [&](Writer& w) {
      w.Key("response");
      response(w, "in_progress", nullptr);
    });
    return out;
  }

  std::string streamChunk(const ResponseChunkInfo& chunk) override {
    std::string out;
    if (!chunk.delta.empty()) {
      if (text_item_ < 0) out += openText(chunk.refusal);
      Item& it = items_[size_t(text_item_)];
      it.content.append(chunk.delta);
      out += event(it.refusal ? "response.refusal.delta" : "response.output_text.delta", [&](Writer& w) {
        position(w, size_t(text_item_));
        w.Key("content_index"), w.Uint(0);
        w.Key("delta"), str(w, chunk.delta);
      });
    }
    for (size_t i = 0; i < chunk.tool_call_count; ++i) {
      const ToolCallDelta& d = chunk.tool_calls[i];
      auto found = call_items_.find(d.index);
      if (found == call_items_.end()) {
        found = call_items_.emplace(d.index, items_.size()).first;
        items_.push_back({false, false, callItemId(items_.size()), callId(d.id, d.index), std::string(d.name), ""});
        out += event("response.output_item.added", [&](Writer& w) {
          w.Key("output_index"), w.Uint(unsigned(found->second));
          w.Key("item");
          item(w, items_[found->second], "in_progress");
        });
      }
      if (d.arguments.empty()) continue;
      items_[found->second].content.append(d.arguments);
      out += event("response.function_call_arguments.delta", [&](Writer& w) {
        position(w, found->second);
        w.Key("delta"), str(w, d.arguments);
      });
    }
    return out;
  }

  std::string streamClose(const ResponseEndInfo& end) override {
    std::string out;
    // Anthropic says an answer was a refusal only at its end, after its text went out as
    // output_text: the part cannot turn into a refusal now, so the response is incomplete for
    // content_filter, not a completed answer a parser would take the refusal text from.
    bool late_refusal = end.refusal && text_item_ >= 0 && !items_[size_t(text_item_)].refusal;
    std::string_view status = late_refusal ? "incomplete" : statusOf(end);
    for (size_t i = 0; i < items_.size(); ++i) {
      const Item& it = items_[i];
      if (it.text) {
        out += event(it.refusal ? "response.refusal.done" : "response.output_text.done", [&](Writer& w) {
          position(w, i);
          w.Key("content_index"), w.Uint(0);
          w.Key(it.refusal ? "refusal" : "text"), str(w, it.content);
        });
        out += event("response.content_part.done", [&](Writer& w) {
          position(w, i);
          w.Key("content_index"), w.Uint(0);
          w.Key("part");
          contentPart(w, it.refusal, it.content);
        });
      } else {
        out += event("response.function_call_arguments.done", [&](Writer& w) {
          position(w, i);
          w.Key("arguments"), str(w, it.content);
        });
      }
      out += event("response.output_item.done", [&](Writer& w) {
        w.Key("output_index"), w.Uint(unsigned(i));
        w.Key("item");
        item(w, it, status == "completed" ? "completed" : "incomplete");
      });
    }
    out += event(status == "completed" ? "response.completed" : "response.incomplete", [&](Writer& w) {
      w.Key("response");
      response(w, status, &end);
    });
    return out;
  }

  std::string streamError(const ResponseEndInfo& end, const HttpError&) override {
    std::string code = errorCode(end);
    std::string out = event("error", [&](Writer& w) {
      w.Key("code"), str(w, code);
      w.Key("message"), str(w, end.message);
      w.Key("param"), w.Null();
    });
    failed_ = {code, std::string(end.message)};
    out += event("response.failed", [&](Writer& w) {
      w.Key("response");
      response(w, "failed", nullptr);
    });
    return out;
  }

  std::string errorBody(const ResponseEndInfo& end, const HttpError& e) override {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("error");
    w.StartObject();
    w.Key("message"), str(w, end.message);
    w.Key("type"), str(w, errorType(end, e));
    w.Key("param"), w.Null();
    w.Key("code"), str(w, errorCode(end));
    w.EndObject();
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  }

 private:
  struct Failure {
    std::string code, message;
  };

  static std::string_view statusOf(const ResponseEndInfo& end) {
    // A refusal ends with content_filter too, but is a whole answer: a refusal part, completed.
    bool filtered = end.finish_reason == "content_filter" && !end.refusal;
    return end.finish_reason == "length" || filtered ? "incomplete" : "completed";
  }

  std::string callItemId(size_t n) const { return "fc_" + request_id_ + "_" + std::to_string(n); }
  // Some OpenAI-compatible servers send tool calls without ids: the SDK tells function calls apart
  // by call_id, and two empty ones made its stream fail ("conflicting output identities").
  std::string callId(std::string_view id, size_t index) const {
    return id.empty() ? "call_" + request_id_ + "_" + std::to_string(index) : std::string(id);
  }

  template <class Body>
  std::string event(std::string_view type, Body&& body) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("type"), str(w, type);
    w.Key("sequence_number"), w.Uint(sequence_++);
    body(w);
    w.EndObject();
    std::string out = "event: ";
    out.append(type);
    out += "\ndata: ";
    out.append(buf.GetString(), buf.GetSize());
    out += "\n\n";
    return out;
  }

  std::string openText(bool refusal) {
    text_item_ = int(items_.size());
    items_.push_back({true, refusal, "msg_" + request_id_, "", "", ""});
    std::string out = event("response.output_item.added", [&](Writer& w) {
      w.Key("output_index"), w.Uint(unsigned(text_item_));
      w.Key("item");
      item(w, items_.back(), "in_progress", /*with_parts=*/false);
    });
    out += event("response.content_part.added", [&](Writer& w) {
      position(w, size_t(text_item_));
      w.Key("content_index"), w.Uint(0);
      w.Key("part");
      contentPart(w, refusal, "");
    });
    return out;
  }

  void position(Writer& w, size_t index) {
    w.Key("item_id"), str(w, items_[index].id);
    w.Key("output_index"), w.Uint(unsigned(index));
  }

  // An output_text part, or a refusal part ({"type":"refusal","refusal":...}).
  static void contentPart(Writer& w, bool refusal, std::string_view text) {
    w.StartObject();
    if (refusal) {
      w.Key("type"), w.String("refusal");
      w.Key("refusal"), str(w, text);
    } else {
      w.Key("type"), w.String("output_text");
      w.Key("text"), str(w, text);
      w.Key("annotations");
      w.StartArray();
      w.EndArray();
    }
    w.EndObject();
  }

  static void item(Writer& w, const Item& it, std::string_view status, bool with_parts = true) {
    w.StartObject();
    w.Key("id"), str(w, it.id);
    w.Key("status"), str(w, status);
    if (it.text) {
      w.Key("type"), w.String("message");
      w.Key("role"), w.String("assistant");
      w.Key("content");
      w.StartArray();
      if (with_parts) contentPart(w, it.refusal, it.content);
      w.EndArray();
    } else {
      w.Key("type"), w.String("function_call");
      w.Key("call_id"), str(w, it.call_id);
      w.Key("name"), str(w, it.name);
      w.Key("arguments"), str(w, it.content);
    }
    w.EndObject();
  }

  // The response object; `end` (when known) gives its usage and why it is incomplete.
  void response(Writer& w, std::string_view status, const ResponseEndInfo* end) {
    if (end && !end->model.empty()) model_ = std::string(end->model);  // the model that answered
    w.StartObject();
    w.Key("id"), str(w, id_);
    w.Key("object"), w.String("response");
    w.Key("created_at"), w.Int64(created_);
    w.Key("status"), str(w, status);
    w.Key("model"), str(w, model_);
    w.Key("output");
    w.StartArray();
    if (status != "in_progress") {
      // Items of a stream cut short did not finish.
      for (const Item& it : items_) item(w, it, status == "completed" ? "completed" : "incomplete");
    }
    w.EndArray();
    w.Key("error");
    if (status == "failed") {
      w.StartObject();
      w.Key("code"), str(w, failed_.code);
      w.Key("message"), str(w, failed_.message);
      w.EndObject();
    } else {
      w.Null();
    }
    w.Key("incomplete_details");
    if (status == "incomplete") {
      w.StartObject();
      bool filtered = end && (end->finish_reason == "content_filter" || end->refusal);
      w.Key("reason"), w.String(filtered ? "content_filter" : "max_output_tokens");
      w.EndObject();
    } else {
      w.Null();
    }
    // What the request set, else the API's defaults.
    auto echoed = [&](const char* key, auto write_default) {
      w.Key(key);
      if (echo_.HasMember(key)) echo_[key].Accept(w);
      else write_default();
    };
    echoed("parallel_tool_calls", [&] { w.Bool(true); });
    echoed("tool_choice", [&] { w.String("auto"); });
    echoed("tools", [&] { w.StartArray(), w.EndArray(); });
    echoed("metadata", [&] { w.StartObject(), w.EndObject(); });
    w.Key("store"), w.Bool(false);
    if (!service_tier_.empty()) w.Key("service_tier"), str(w, service_tier_);
    w.Key("usage");
    if (end) {
      const Usage& u = end->usage;
      w.StartObject();
      w.Key("input_tokens"), w.Uint(u.prompt_tokens);
      w.Key("input_tokens_details");
      w.StartObject();
      w.Key("cached_tokens"), w.Uint(u.cached_tokens);
      w.EndObject();
      w.Key("output_tokens"), w.Uint(u.completion_tokens);
      w.Key("output_tokens_details");
      w.StartObject();
      w.Key("reasoning_tokens"), w.Uint(u.reasoning_tokens);
      w.EndObject();
      w.Key("total_tokens"), w.Uint(u.prompt_tokens + u.completion_tokens);
      w.EndObject();
    } else {
      w.Null();
    }
    w.EndObject();
  }

  std::string request_id_, id_, model_, service_tier_;
  int64_t created_;
  rapidjson::Document echo_;  // the request's settings the response object repeats
  std::vector<Item> items_;
  std::map<uint32_t, size_t> call_items_;  // a tool call's stream index -> its item
  int text_item_ = -1;
  unsigned sequence_ = 0;
  Failure failed_;
};

}  // namespace

std::unique_ptr<ResponseEncoder> makeResponsesEncoder(const ChatCall& call, std::string_view request_id) {
  return std::make_unique<ResponsesEncoder>(call, request_id);
}

}  // namespace outrigger::http
