#include "http/chat_response.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace outrigger::http {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void strOrNull(Writer& w, std::string_view s) {
  if (s.empty()) w.Null();
  else str(w, s);
}

void head(Writer& w, const CompletionIdentity& ident, const char* object) {
  w.Key("id");
  str(w, ident.id);
  w.Key("object");
  w.String(object);
  w.Key("created");
  w.Int64(ident.created);
  w.Key("model");
  str(w, ident.model);
  w.Key("system_fingerprint");
  strOrNull(w, ident.system_fingerprint);
  if (!ident.service_tier.empty()) {
    w.Key("service_tier");
    str(w, ident.service_tier);
  }
}

void usage(Writer& w, const Usage& u) {
  w.StartObject();
  w.Key("prompt_tokens");
  w.Uint(u.prompt_tokens);
  w.Key("completion_tokens");
  w.Uint(u.completion_tokens);
  w.Key("total_tokens");
  w.Uint64(uint64_t{u.prompt_tokens} + u.completion_tokens);
  w.Key("prompt_tokens_details");
  w.StartObject();
  w.Key("cached_tokens");
  w.Uint(u.cached_tokens);
  w.EndObject();
  w.Key("completion_tokens_details");
  w.StartObject();
  w.Key("reasoning_tokens");
  w.Uint(u.reasoning_tokens);
  w.EndObject();
  w.EndObject();
}

void toolCalls(Writer& w, const std::vector<ToolCall>& calls) {
  w.StartArray();
  for (const ToolCall& c : calls) {
    w.StartObject();
    w.Key("id");
    str(w, c.id);
    w.Key("type");
    str(w, c.type.empty() ? std::string_view("function") : std::string_view(c.type));
    w.Key("function");
    w.StartObject();
    w.Key("name");
    str(w, c.name);
    w.Key("arguments");
    str(w, c.arguments);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

void toolCallDeltas(Writer& w, const ToolCallDelta* calls, size_t n) {
  w.StartArray();
  for (size_t i = 0; i < n; ++i) {
    const ToolCallDelta& c = calls[i];
    w.StartObject();
    w.Key("index");
    w.Uint(c.index);
    if (!c.id.empty()) {
      w.Key("id");
      str(w, c.id);
      w.Key("type");
      str(w, c.type.empty() ? std::string_view("function") : c.type);
    }
    w.Key("function");
    w.StartObject();
    if (!c.name.empty()) {
      w.Key("name");
      str(w, c.name);
    }
    w.Key("arguments");
    str(w, c.arguments);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

std::string event(const rapidjson::StringBuffer& buf) {
  std::string out;
  out.reserve(buf.GetSize() + 8);
  out.append("data: ");
  out.append(buf.GetString(), buf.GetSize());
  out.append("\n\n");
  return out;
}

}  // namespace

std::string completionBody(const CompletionIdentity& ident, const ResponseEndInfo& end) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  bool has_calls = end.tool_calls && !end.tool_calls->empty();
  w.StartObject();
  head(w, ident, "chat.completion");
  w.Key("choices");
  w.StartArray();
  w.StartObject();
  w.Key("index");
  w.Uint(0);
  w.Key("message");
  w.StartObject();
  w.Key("role");
  w.String("assistant");
  bool refusal = end.refusal && !has_calls;
  w.Key("content");
  if (refusal || (has_calls && end.content.empty())) w.Null();
  else str(w, end.content);
  w.Key("refusal");
  if (refusal) str(w, end.content);
  else w.Null();
  if (has_calls) {
    w.Key("tool_calls");
    toolCalls(w, *end.tool_calls);
  }
  w.EndObject();
  w.Key("logprobs");
  w.Null();
  w.Key("finish_reason");
  bool plain_stop = end.finish_reason.empty() || (refusal && end.finish_reason == "content_filter");
  str(w, plain_stop ? std::string_view(has_calls ? "tool_calls" : "stop") : end.finish_reason);
  w.EndObject();
  w.EndArray();
  w.Key("usage");
  usage(w, end.usage);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string chunkEvent(const CompletionIdentity& ident, const ChunkDelta& d, bool usage_null) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  head(w, ident, "chat.completion.chunk");
  w.Key("choices");
  w.StartArray();
  w.StartObject();
  w.Key("index");
  w.Uint(0);
  w.Key("delta");
  w.StartObject();
  if (d.role) {
    w.Key("role");
    w.String("assistant");
  }
  if (d.refusal) {
    w.Key("refusal");
    str(w, d.content);
  } else if (d.has_content || d.role) {
    w.Key("content");
    str(w, d.content);
  }
  if (d.role) {
    w.Key("refusal");
    w.Null();
  }
  if (d.tool_call_count) {
    w.Key("tool_calls");
    toolCallDeltas(w, d.tool_calls, d.tool_call_count);
  }
  w.EndObject();
  w.Key("logprobs");
  w.Null();
  w.Key("finish_reason");
  strOrNull(w, d.finish_reason);
  w.EndObject();
  w.EndArray();
  if (usage_null) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return event(buf);
}

std::string usageEvent(const CompletionIdentity& ident, const Usage& u) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  head(w, ident, "chat.completion.chunk");
  w.Key("choices");
  w.StartArray();
  w.EndArray();
  w.Key("usage");
  usage(w, u);
  w.EndObject();
  return event(buf);
}

std::string errorBody(std::string_view message, std::string_view type, std::string_view param, std::string_view code) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("message");
  str(w, message);
  w.Key("type");
  str(w, type);
  w.Key("param");
  strOrNull(w, param);
  w.Key("code");
  strOrNull(w, code);
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string errorEvent(std::string_view message, std::string_view type, std::string_view code) {
  return "data: " + errorBody(message, type, "", code) + "\n\n";
}

namespace {
void model(Writer& w, std::string_view id) {
  w.StartObject();
  w.Key("id");
  str(w, id);
  w.Key("object");
  w.String("model");
  w.Key("created");
  w.Int(0);
  w.Key("owned_by");
  w.String("outrigger");
  w.EndObject();
}
}  // namespace

std::string modelListBody(const std::vector<std::string>& ids) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.StartArray();
  for (const std::string& id : ids) model(w, id);
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string modelBody(std::string_view id) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  model(w, id);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace outrigger::http
