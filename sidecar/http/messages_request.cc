#include "http/messages_request.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <set>
#include <vector>

#include "tool_choice.h"
#include "outrigger_generated.h"

namespace outrigger::http {
namespace {

namespace w = outrigger::wire;
using Json = rapidjson::Value;
using flatbuffers::Offset;
using flatbuffers::String;

const std::set<std::string_view> kMapped = {"model",  "max_tokens",  "system", "messages",    "stop_sequences",
                                            "temperature", "top_p", "tools",  "tool_choice", "stream",
                                            "metadata"};

// Recursive, like every RapidJSON writer walk: safe because parseBody bounds the document's depth.
std::string toJson(const Json& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string_view sv(const Json& v) { return {v.GetString(), v.GetStringLength()}; }

struct PendingCall {
  std::string id, name, arguments;
};

// Builds one wire Request from a Messages body; the first problem found stops it.
class MessagesTranslator {
 public:
  MessagesTranslator(const CallMetadata& meta, RequestError* error) : meta_(meta), error_(error) {}
  bool run(const Json& root, ChatCall* out);

 private:
  bool fail(std::string param, std::string message) {
    error_->param = std::move(param);
    error_->message = std::move(message);
    return false;
  }
  Offset<String> str(std::string_view s) { return s.empty() ? 0 : fbb_.CreateString(s.data(), s.size()); }
  void add(std::string_view role, std::string_view content, const std::vector<PendingCall>& calls = {},
           std::string_view tool_call_id = {});

  bool text(const Json& v, const std::string& where, std::string* out);
  bool system(const Json& root);
  bool message(const Json& m, const std::string& where);
  bool messages(const Json& root);
  bool params(const Json& root, Offset<w::Params>* out);
  bool tools(const Json& root, Offset<flatbuffers::Vector<Offset<w::Tool>>>* out, Offset<String>* choice);

  const CallMetadata& meta_;
  RequestError* error_;
  flatbuffers::FlatBufferBuilder fbb_{1024};
  std::vector<Offset<w::Message>> msgs_;
};

void MessagesTranslator::add(std::string_view role, std::string_view content, const std::vector<PendingCall>& calls,
                             std::string_view tool_call_id) {
  Offset<flatbuffers::Vector<Offset<w::ToolCall>>> tc = 0;
  if (!calls.empty()) {
    std::vector<Offset<w::ToolCall>> v;
    for (const auto& c : calls) v.push_back(w::CreateToolCall(fbb_, str(c.id), str("function"), str(c.name), str(c.arguments)));
    tc = fbb_.CreateVector(v);
  }
  msgs_.push_back(w::CreateMessage(fbb_, str(role), fbb_.CreateString(content.data(), content.size()), 0, tc,
                                   str(tool_call_id)));
}

// A string, or an array of {"type":"text","text":...} blocks, joined.
bool MessagesTranslator::text(const Json& v, const std::string& where, std::string* out) {
  if (v.IsString()) {
    out->assign(sv(v));
    return true;
  }
  if (!v.IsArray()) return fail(where, where + " must be a string or an array of text blocks");
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    const Json& b = v[i];
    std::string at = where + "[" + std::to_string(i) + "]";
    if (!b.IsObject() || !b.HasMember("type") || !b["type"].IsString() || sv(b["type"]) != "text" ||
        !b.HasMember("text") || !b["text"].IsString()) {
      return fail(at, at + " must be a text block {\"type\": \"text\", \"text\": ...}");
    }
    out->append(sv(b["text"]));
  }
  return true;
}

bool MessagesTranslator::system(const Json& root) {
  if (!root.HasMember("system") || root["system"].IsNull()) return true;
  std::string s;
  if (!text(root["system"], "system", &s)) return false;
  add("system", s);
  return true;
}

// One Messages turn becomes one or more wire messages: tool results are messages of their own
// (role "tool"), and tool_use blocks become the assistant message's tool calls.
bool MessagesTranslator::message(const Json& m, const std::string& where) {
  if (!m.IsObject() || !m.HasMember("role") || !m["role"].IsString()) {
    return fail(where + ".role", where + " must be an object with a string 'role'");
  }
  std::string_view role = sv(m["role"]);
  if (role != "user" && role != "assistant") return fail(where + ".role", "role must be 'user' or 'assistant'");
  if (!m.HasMember("content")) return fail(where + ".content", where + ".content is required");
  const Json& c = m["content"];
  if (c.IsString()) {
    add(role, sv(c));
    return true;
  }
  if (!c.IsArray()) return fail(where + ".content", where + ".content must be a string or an array of blocks");
  std::string joined;
  std::vector<PendingCall> calls;
  for (rapidjson::SizeType i = 0; i < c.Size(); ++i) {
    const Json& b = c[i];
    std::string at = where + ".content[" + std::to_string(i) + "]";
    if (!b.IsObject() || !b.HasMember("type") || !b["type"].IsString()) return fail(at, at + " must be a block with a 'type'");
    std::string_view type = sv(b["type"]);
    if (type == "text" && b.HasMember("text") && b["text"].IsString()) {
      joined.append(sv(b["text"]));
    } else if (type == "tool_use" && role == "assistant" && b.HasMember("id") && b["id"].IsString() &&
               b.HasMember("name") && b["name"].IsString()) {
      calls.push_back({std::string(sv(b["id"])), std::string(sv(b["name"])),
                       b.HasMember("input") ? toJson(b["input"]) : std::string("{}")});
    } else if (type == "tool_result" && role == "user" && b.HasMember("tool_use_id") && b["tool_use_id"].IsString()) {
      std::string result;
      if (b.HasMember("content") && !b["content"].IsNull() && !text(b["content"], at + ".content", &result)) return false;
      add("tool", result, {}, sv(b["tool_use_id"]));
    } else {
      return fail(at, at + ": block type '" + std::string(type) + "' is not supported here");
    }
  }
  if (!joined.empty() || !calls.empty()) add(role, joined, calls);
  return true;
}

bool MessagesTranslator::messages(const Json& root) {
  if (!root.HasMember("messages") || !root["messages"].IsArray() || root["messages"].Empty()) {
    return fail("messages", "'messages' is required and must be a non-empty array");
  }
  const Json& ms = root["messages"];
  for (rapidjson::SizeType i = 0; i < ms.Size(); ++i) {
    if (!message(ms[i], "messages[" + std::to_string(i) + "]")) return false;
  }
  return true;
}

bool MessagesTranslator::tools(const Json& root, Offset<flatbuffers::Vector<Offset<w::Tool>>>* out,
                               Offset<String>* choice) {
  if (root.HasMember("tools") && !root["tools"].IsNull()) {
    const Json& ts = root["tools"];
    if (!ts.IsArray()) return fail("tools", "'tools' must be an array");
    std::vector<Offset<w::Tool>> v;
    for (rapidjson::SizeType i = 0; i < ts.Size(); ++i) {
      const Json& t = ts[i];
      std::string at = "tools[" + std::to_string(i) + "]";
      if (!t.IsObject() || !t.HasMember("name") || !t["name"].IsString()) return fail(at + ".name", at + " needs a string 'name'");
      // Server tools (web_search_20250305, bash_20250124 ...) run at Anthropic, with settings of
      // their own: as a function with an empty schema they would be a different tool.
      if (t.HasMember("type") && !t["type"].IsNull() && (!t["type"].IsString() || sv(t["type"]) != "custom")) {
        return fail(at + ".type", at + " is a server tool ('" + (t["type"].IsString() ? std::string(sv(t["type"])) : "?") +
                                      "'): only custom tools (a name and an input_schema) pass through Outrigger");
      }
      std::string schema = t.HasMember("input_schema") ? toJson(t["input_schema"]) : std::string("{}");
      std::string_view desc = t.HasMember("description") && t["description"].IsString() ? sv(t["description"]) : "";
      v.push_back(w::CreateTool(fbb_, str("function"), str(sv(t["name"])), str(desc), str(schema)));
    }
    *out = fbb_.CreateVector(v);
  }
  if (root.HasMember("tool_choice") && root["tool_choice"].IsObject()) {
    const Json& c = root["tool_choice"];
    if (!c.HasMember("type") || !c["type"].IsString()) return fail("tool_choice.type", "'tool_choice' needs a 'type'");
    std::string_view type = sv(c["type"]);
    if (type == "any") *choice = str("required");
    else if (type == "tool" && c.HasMember("name") && c["name"].IsString()) *choice = str(json::toolChoiceForcing(sv(c["name"])));
    else if (type == "tool") return fail("tool_choice.name", "'tool_choice' of type 'tool' needs the tool's 'name'");
    else if (type == "none") *choice = str("none");
    else if (type == "auto") *choice = str("auto");
    else return fail("tool_choice.type", "'tool_choice.type' must be auto, any, tool or none");
  }
  return true;
}

bool MessagesTranslator::params(const Json& root, Offset<w::Params>* out) {
  bool has_max = root.HasMember("max_tokens");
  if ((has_max || !meta_.counting) &&
      (!has_max || !root["max_tokens"].IsUint() || root["max_tokens"].GetUint() == 0)) {
    return fail("max_tokens", "'max_tokens' is required and must be a positive integer");
  }
  Offset<flatbuffers::Vector<Offset<String>>> stop = 0;
  if (root.HasMember("stop_sequences") && root["stop_sequences"].IsArray()) {
    std::vector<Offset<String>> v;
    for (const Json& s : root["stop_sequences"].GetArray()) {
      if (!s.IsString()) return fail("stop_sequences", "'stop_sequences' must be strings");
      v.push_back(fbb_.CreateString(s.GetString(), s.GetStringLength()));  // "" too: a vector holds no null
    }
    stop = fbb_.CreateVector(v);
  }
  Offset<flatbuffers::Vector<Offset<w::Tool>>> tls = 0;
  Offset<String> choice = 0;
  if (!tools(root, &tls, &choice)) return false;
  rapidjson::Document extra(rapidjson::kObjectType);
  for (auto it = root.MemberBegin(); it != root.MemberEnd(); ++it) {
    if (kMapped.count(sv(it->name))) continue;
    extra.AddMember(Json(it->name, extra.GetAllocator()), Json(it->value, extra.GetAllocator()), extra.GetAllocator());
  }
  // disable_parallel_tool_use travels as OpenAI's parallel_tool_calls: false, which both
  // providers understand (the Anthropic one turns it back).
  if (root.HasMember("tool_choice") && root["tool_choice"].IsObject()) {
    const Json& c = root["tool_choice"];
    auto serial = c.FindMember("disable_parallel_tool_use");
    if (serial != c.MemberEnd() && serial->value.IsBool() && serial->value.GetBool()) {
      extra.AddMember("parallel_tool_calls", false, extra.GetAllocator());
    }
  }
  auto extra_json = extra.MemberCount() ? str(toJson(extra)) : 0;
  w::ParamsBuilder p(fbb_);
  for (const char* key : {"temperature", "top_p"}) {
    if (!root.HasMember(key) || root[key].IsNull()) continue;
    if (!root[key].IsNumber()) return fail(key, std::string("'") + key + "' must be a number");
    // Anthropic's range for both; a double past float's range does not convert (1e300).
    const double d = root[key].GetDouble();
    if (!(d >= 0 && d <= 1)) return fail(key, std::string("'") + key + "' must be between 0 and 1");
    float v = static_cast<float>(d);
    if (key[1] == 'e') p.add_temperature(v);
    else p.add_top_p(v);
  }
  if (has_max) p.add_max_tokens(root["max_tokens"].GetUint());
  if (!stop.IsNull()) p.add_stop(stop);
  if (!tls.IsNull()) p.add_tools(tls);
  if (!choice.IsNull()) p.add_tool_choice(choice);
  if (!extra_json.IsNull()) p.add_extra_json(extra_json);
  *out = p.Finish();
  return true;
}

bool MessagesTranslator::run(const Json& root, ChatCall* out) {
  if (!root.IsObject()) return fail("", "the request body must be a JSON object");
  if (!root.HasMember("model") || !root["model"].IsString() || root["model"].GetStringLength() == 0) {
    return fail("model", "'model' is required and must be a non-empty string");
  }
  out->model.assign(sv(root["model"]));
  if (root.HasMember("stream") && !root["stream"].IsNull()) {
    if (!root["stream"].IsBool()) return fail("stream", "'stream' must be a boolean");
    out->stream = root["stream"].GetBool();
  }
  if (!system(root) || !messages(root)) return false;
  auto msgs = fbb_.CreateVector(msgs_);
  Offset<w::Params> prm;
  if (!params(root, &prm)) return false;
  std::string_view user = meta_.user;
  if (user.empty() && root.HasMember("metadata") && root["metadata"].IsObject() &&
      root["metadata"].HasMember("user_id") && root["metadata"]["user_id"].IsString()) {
    user = sv(root["metadata"]["user_id"]);
  }
  auto md = w::CreateMetadata(fbb_, str(meta_.tenant), str(user), str(meta_.session), str(meta_.request_id),
                              str(meta_.prompt_id), str(meta_.prompt_version), 0, str(meta_.traceparent));
  Offset<w::CacheControl> cache = 0;
  if (meta_.cache_bypass || meta_.cache_no_store || meta_.cache_ttl_ms) {
    cache = w::CreateCacheControl(fbb_, meta_.cache_bypass, meta_.cache_no_store, meta_.cache_ttl_ms);
  }
  out->route = std::string(meta_.route);  // the route by name (Engine::start); the model stays the caller's
  auto request = w::CreateRequest(fbb_, str(out->model), msgs, prm, out->stream, md, meta_.deadlineMs(out->stream), cache);
  w::FinishSizePrefixedFrameBuffer(fbb_, w::CreateFrame(fbb_, 1, w::Body::Request, request.Union()));
  out->frame = chain::FrameBuffer::copyOf(fbb_.GetBufferPointer(), fbb_.GetSize());
  out->request = w::GetSizePrefixedFrame(out->frame.data())->body_as_Request();
  return true;
}

}  // namespace

bool buildMessagesCall(std::string_view body, const CallMetadata& meta, ChatCall* out, RequestError* error) {
  rapidjson::Document doc;
  if (!parseBody(body, &doc, error)) return false;
  return MessagesTranslator(meta, error).run(doc, out);
}

}  // namespace outrigger::http
