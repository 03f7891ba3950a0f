#include "http/chat_request.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <set>
#include <utility>
#include <vector>

#include "bounded_json.h"
#include "common/message_roles.h"
#include "tool_choice.h"
#include "outrigger_generated.h"

namespace outrigger::http {
namespace {

namespace w = outrigger::wire;
using Json = rapidjson::Value;
using flatbuffers::Offset;
using flatbuffers::String;

// Top-level fields with a wire home. Everything else travels in extra_json.
const std::set<std::string_view> kMapped = {
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop",
    "tools", "tool_choice", "response_format", "stream", "stream_options", "user", "metadata"};

// Recursive, like every RapidJSON writer walk: safe because parseBody bounds the document's depth.
std::string toJson(const Json& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string_view sv(const Json& v) { return {v.GetString(), v.GetStringLength()}; }

// True when object `v` has a member outside `known`: something the wire has no slot for.
bool hasOtherMembers(const Json& v, std::initializer_list<std::string_view> known) {
  if (!v.IsObject()) return false;
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    if (std::find(known.begin(), known.end(), sv(it->name)) == known.end()) return true;
  }
  return false;
}

// Builds one wire Request; the first problem found stops it.
class Translator {
 public:
  Translator(const CallMetadata& meta, RequestError* error) : meta_(meta), error_(error) {}

  bool run(const Json& root, ChatCall* out);
  bool runEmbeddings(const Json& root, ChatCall* out);
  bool tokenIds(const Json& array, const std::string& param, std::string* out);

 private:
  bool fail(std::string param, std::string message) {
    error_->param = std::move(param);
    error_->message = std::move(message);
    return false;
  }
  Offset<String> str(std::string_view s) { return s.empty() ? 0 : fbb_.CreateString(s.data(), s.size()); }

  bool content(const Json& v, const std::string& where, std::string* text);
  bool toolCalls(const Json& v, const std::string& where, Offset<flatbuffers::Vector<Offset<w::ToolCall>>>* out);
  bool message(const Json& v, size_t i, Offset<w::Message>* out);
  bool messages(const Json& root, Offset<flatbuffers::Vector<Offset<w::Message>>>* out);
  bool number(const Json& root, const char* key, double lo, double hi, flatbuffers::Optional<float>* out);
  bool maxTokens(const Json& root, flatbuffers::Optional<uint32_t>* out);
  bool stop(const Json& root, Offset<flatbuffers::Vector<Offset<String>>>* out);
  bool tools(const Json& root, Offset<flatbuffers::Vector<Offset<w::Tool>>>* out);
  bool toolChoice(const Json& root, Offset<String>* out);
  bool responseFormat(const Json& root, Offset<w::ResponseFormat>* out);
  bool params(const Json& root, Offset<w::Params>* out);
  bool metadata(const Json& root, Offset<w::Metadata>* out);
  bool streamFlags(const Json& root, ChatCall* out);
  void finish(ChatCall* out, Offset<flatbuffers::Vector<Offset<w::Message>>> msgs, Offset<w::Params> prm,
              Offset<w::Metadata> md);

  const CallMetadata& meta_;
  RequestError* error_;
  flatbuffers::FlatBufferBuilder fbb_{1024};
  // The caller's tools or response_format hold members the wire has no slot for (a tool's
  // `strict`, a schema's `description`): they also travel verbatim in extra_json.
  bool keep_tools_ = false;
  bool keep_response_format_ = false;
};

bool Translator::content(const Json& v, const std::string& where, std::string* text) {
  if (v.IsNull()) return true;
  if (v.IsString()) {
    text->assign(v.GetString(), v.GetStringLength());
    return true;
  }
  if (!v.IsArray()) return fail(where, where + " must be a string or an array of content parts");
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    const Json& part = v[i];
    std::string at = where + "[" + std::to_string(i) + "]";
    if (!part.IsObject() || !part.HasMember("type") || !part["type"].IsString()) {
      return fail(at, at + " must be an object with a string 'type'");
    }
    if (sv(part["type"]) != "text") {
      return fail(at, "content part type '" + std::string(sv(part["type"])) + "' is not supported by this server");
    }
    if (!part.HasMember("text") || !part["text"].IsString()) return fail(at + ".text", at + ".text must be a string");
    text->append(part["text"].GetString(), part["text"].GetStringLength());
  }
  return true;
}

bool Translator::toolCalls(const Json& v, const std::string& where,
                           Offset<flatbuffers::Vector<Offset<w::ToolCall>>>* out) {
  if (!v.IsArray()) return fail(where, where + " must be an array");
  std::vector<Offset<w::ToolCall>> calls;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    const Json& c = v[i];
    std::string at = where + "[" + std::to_string(i) + "]";
    if (!c.IsObject() || !c.HasMember("function") || !c["function"].IsObject()) {
      return fail(at, at + " must be an object with a 'function' object");
    }
    const Json& f = c["function"];
    if (!f.HasMember("name") || !f["name"].IsString()) return fail(at + ".function.name", "tool call needs a function name");
    std::string_view args = f.HasMember("arguments") && f["arguments"].IsString() ? sv(f["arguments"]) : "";
    std::string_view id = c.HasMember("id") && c["id"].IsString() ? sv(c["id"]) : "";
    calls.push_back(w::CreateToolCall(fbb_, str(id), str("function"), str(sv(f["name"])), str(args)));
  }
  *out = fbb_.CreateVector(calls);
  return true;
}

bool Translator::message(const Json& m, size_t i, Offset<w::Message>* out) {
  std::string at = "messages[" + std::to_string(i) + "]";
  if (!m.IsObject()) return fail(at, at + " must be an object");
  if (!m.HasMember("role") || !m["role"].IsString()) return fail(at + ".role", at + ".role must be a string");
  std::string_view role = sv(m["role"]);
  if (!knownMessageRole(role)) {
    return fail(at + ".role", "unknown role '" + std::string(role) + "'");
  }
  std::string text;
  if (m.HasMember("content") && !content(m["content"], at + ".content", &text)) return false;
  Offset<flatbuffers::Vector<Offset<w::ToolCall>>> calls = 0;
  if (m.HasMember("tool_calls") && !m["tool_calls"].IsNull() && !toolCalls(m["tool_calls"], at + ".tool_calls", &calls)) {
    return false;
  }
  auto optional = [&](const char* key, std::string_view* v) {
    if (!m.HasMember(key) || m[key].IsNull()) return true;
    if (!m[key].IsString()) return fail(at + "." + key, at + "." + key + " must be a string");
    *v = sv(m[key]);
    return true;
  };
  std::string_view name, tool_call_id;
  if (!optional("name", &name) || !optional("tool_call_id", &tool_call_id)) return false;
  *out = w::CreateMessage(fbb_, str(role), fbb_.CreateString(text), str(name), calls, str(tool_call_id));
  return true;
}

bool Translator::messages(const Json& root, Offset<flatbuffers::Vector<Offset<w::Message>>>* out) {
  if (!root.HasMember("messages")) return fail("messages", "'messages' is required");
  const Json& v = root["messages"];
  if (!v.IsArray()) return fail("messages", "'messages' must be an array");
  if (v.Empty()) return fail("messages", "'messages' must not be empty");
  std::vector<Offset<w::Message>> list;
  list.reserve(v.Size());
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    Offset<w::Message> m;
    if (!message(v[i], i, &m)) return false;
    list.push_back(m);
  }
  *out = fbb_.CreateVector(list);
  return true;
}

bool Translator::number(const Json& root, const char* key, double lo, double hi, flatbuffers::Optional<float>* out) {
  if (!root.HasMember(key) || root[key].IsNull()) return true;
  const Json& v = root[key];
  if (!v.IsNumber()) return fail(key, std::string("'") + key + "' must be a number");
  double d = v.GetDouble();
  if (!(d >= lo && d <= hi)) {
    return fail(key, std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  *out = static_cast<float>(d);
  return true;
}

bool Translator::maxTokens(const Json& root, flatbuffers::Optional<uint32_t>* out) {
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (!root.HasMember(key) || root[key].IsNull()) continue;
    if (!root[key].IsUint()) return fail(key, std::string("'") + key + "' must be a non-negative integer");
    if (!out->has_value()) *out = root[key].GetUint();
  }
  return true;
}

bool Translator::stop(const Json& root, Offset<flatbuffers::Vector<Offset<String>>>* out) {
  if (!root.HasMember("stop") || root["stop"].IsNull()) return true;
  const Json& v = root["stop"];
  std::vector<Offset<String>> list;
  if (v.IsString()) {
    list.push_back(fbb_.CreateString(v.GetString(), v.GetStringLength()));
  } else if (v.IsArray()) {
    for (const Json& s : v.GetArray()) {
      if (!s.IsString()) return fail("stop", "'stop' must be a string or an array of strings");
      list.push_back(fbb_.CreateString(s.GetString(), s.GetStringLength()));
    }
  } else {
    return fail("stop", "'stop' must be a string or an array of strings");
  }
  *out = fbb_.CreateVector(list);
  return true;
}

bool Translator::tools(const Json& root, Offset<flatbuffers::Vector<Offset<w::Tool>>>* out) {
  if (!root.HasMember("tools") || root["tools"].IsNull()) return true;
  const Json& v = root["tools"];
  if (!v.IsArray()) return fail("tools", "'tools' must be an array");
  std::vector<Offset<w::Tool>> list;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    std::string at = "tools[" + std::to_string(i) + "]";
    const Json& t = v[i];
    if (!t.IsObject() || !t.HasMember("function") || !t["function"].IsObject()) {
      return fail(at, at + " must be {\"type\": \"function\", \"function\": {...}}");
    }
    const Json& f = t["function"];
    if (!f.HasMember("name") || !f["name"].IsString()) return fail(at + ".function.name", "a tool needs a function name");
    keep_tools_ = keep_tools_ || hasOtherMembers(t, {"type", "function"}) ||
                  hasOtherMembers(f, {"name", "description", "parameters"});
    std::string_view desc = f.HasMember("description") && f["description"].IsString() ? sv(f["description"]) : "";
    std::string params = f.HasMember("parameters") ? toJson(f["parameters"]) : std::string();
    list.push_back(w::CreateTool(fbb_, str("function"), str(sv(f["name"])), str(desc), str(params)));
  }
  *out = fbb_.CreateVector(list);
  return true;
}

bool Translator::toolChoice(const Json& root, Offset<String>* out) {
  if (!root.HasMember("tool_choice") || root["tool_choice"].IsNull()) return true;
  const Json& v = root["tool_choice"];
  if (v.IsString()) {
    *out = str(sv(v));
    return true;
  }
  if (v.IsObject() && v.HasMember("function") && v["function"].IsObject() && v["function"].HasMember("name") &&
      v["function"]["name"].IsString()) {
    *out = str(json::toolChoiceForcing(sv(v["function"]["name"])));
    return true;
  }
  return fail("tool_choice", "'tool_choice' must be a string or {\"type\": \"function\", \"function\": {\"name\": ...}}");
}

bool Translator::responseFormat(const Json& root, Offset<w::ResponseFormat>* out) {
  if (!root.HasMember("response_format") || root["response_format"].IsNull()) return true;
  const Json& v = root["response_format"];
  if (!v.IsObject() || !v.HasMember("type") || !v["type"].IsString()) {
    return fail("response_format", "'response_format' must be an object with a string 'type'");
  }
  std::string_view type = sv(v["type"]);
  if (type == "text") {
    *out = w::CreateResponseFormat(fbb_, w::ResponseFormatType::Text);
  } else if (type == "json_object") {
    *out = w::CreateResponseFormat(fbb_, w::ResponseFormatType::JsonObject);
  } else if (type == "json_schema") {
    if (!v.HasMember("json_schema") || !v["json_schema"].IsObject()) {
      return fail("response_format.json_schema", "json_schema format needs a 'json_schema' object");
    }
    const Json& js = v["json_schema"];
    std::string_view name = js.HasMember("name") && js["name"].IsString() ? sv(js["name"]) : "";
    std::string schema = js.HasMember("schema") ? toJson(js["schema"]) : std::string();
    bool strict = js.HasMember("strict") && js["strict"].IsBool() && js["strict"].GetBool();
    keep_response_format_ = hasOtherMembers(v, {"type", "json_schema"}) || hasOtherMembers(js, {"name", "schema", "strict"});
    *out = w::CreateResponseFormat(fbb_, w::ResponseFormatType::JsonSchema, str(name), str(schema), strict);
  } else {
    return fail("response_format.type", "unknown response_format type '" + std::string(type) + "'");
  }
  return true;
}

bool Translator::params(const Json& root, Offset<w::Params>* out) {
  flatbuffers::Optional<float> temperature, top_p;
  flatbuffers::Optional<uint32_t> max_tokens;
  flatbuffers::Optional<int64_t> seed;
  if (!number(root, "temperature", 0, 2, &temperature) || !number(root, "top_p", 0, 1, &top_p)) return false;
  if (!maxTokens(root, &max_tokens)) return false;
  if (root.HasMember("seed") && !root["seed"].IsNull()) {
    if (!root["seed"].IsInt64()) return fail("seed", "'seed' must be an integer");
    seed = root["seed"].GetInt64();
  }
  if (root.HasMember("n") && !root["n"].IsNull() && !(root["n"].IsUint() && root["n"].GetUint() == 1)) {
    return fail("n", "only n = 1 is supported");
  }
  Offset<flatbuffers::Vector<Offset<String>>> stops = 0;
  Offset<flatbuffers::Vector<Offset<w::Tool>>> tool_list = 0;
  Offset<String> choice = 0;
  Offset<w::ResponseFormat> format = 0;
  if (!stop(root, &stops) || !tools(root, &tool_list) || !toolChoice(root, &choice) || !responseFormat(root, &format)) {
    return false;
  }
  // Unknown and unmapped fields, verbatim, for the provider.
  rapidjson::Document extra(rapidjson::kObjectType);
  for (auto it = root.MemberBegin(); it != root.MemberEnd(); ++it) {
    if (kMapped.count(sv(it->name))) continue;
    extra.AddMember(Json(it->name, extra.GetAllocator()), Json(it->value, extra.GetAllocator()), extra.GetAllocator());
  }
  // Verbatim, so a provider that speaks the caller's dialect loses none of it (see keep_tools_).
  for (auto [key, keep] : {std::pair<const char*, bool>{"tools", keep_tools_}, {"response_format", keep_response_format_}}) {
    if (keep) extra.AddMember(rapidjson::StringRef(key), Json(root[key], extra.GetAllocator()), extra.GetAllocator());
  }
  Offset<String> extra_json = extra.MemberCount() ? fbb_.CreateString(toJson(extra)) : 0;
  *out = w::CreateParams(fbb_, temperature, top_p, max_tokens, seed, stops, tool_list, choice, format, extra_json);
  return true;
}

bool Translator::metadata(const Json& root, Offset<w::Metadata>* out) {
  std::string_view user = meta_.user;
  if (user.empty() && root.HasMember("user") && !root["user"].IsNull()) {
    if (!root["user"].IsString()) return fail("user", "'user' must be a string");
    user = sv(root["user"]);
  }
  std::vector<Offset<w::Tag>> tags;
  if (root.HasMember("metadata") && !root["metadata"].IsNull()) {
    const Json& m = root["metadata"];
    if (!m.IsObject()) return fail("metadata", "'metadata' must be an object of strings");
    for (auto it = m.MemberBegin(); it != m.MemberEnd(); ++it) {
      if (!it->value.IsString()) return fail("metadata", "'metadata' values must be strings");
      tags.push_back(w::CreateTag(fbb_, str(sv(it->name)), str(sv(it->value))));
    }
  }
  *out = w::CreateMetadata(fbb_, str(meta_.tenant), str(user), str(meta_.session), str(meta_.request_id),
                           str(meta_.prompt_id), str(meta_.prompt_version), tags.empty() ? 0 : fbb_.CreateVector(tags),
                           str(meta_.traceparent));
  return true;
}

bool Translator::streamFlags(const Json& root, ChatCall* out) {
  if (root.HasMember("stream") && !root["stream"].IsNull()) {
    if (!root["stream"].IsBool()) return fail("stream", "'stream' must be a boolean");
    out->stream = root["stream"].GetBool();
  }
  if (root.HasMember("stream_options") && !root["stream_options"].IsNull()) {
    const Json& o = root["stream_options"];
    if (!o.IsObject()) return fail("stream_options", "'stream_options' must be an object");
    if (o.HasMember("include_usage") && !o["include_usage"].IsNull()) {
      if (!o["include_usage"].IsBool()) return fail("stream_options.include_usage", "'include_usage' must be a boolean");
      out->include_usage = o["include_usage"].GetBool();
    }
  }
  return true;
}

bool Translator::run(const Json& root, ChatCall* out) {
  if (!root.IsObject()) return fail("", "the request body must be a JSON object");
  if (!root.HasMember("model") || !root["model"].IsString() || root["model"].GetStringLength() == 0) {
    return fail("model", "'model' is required and must be a non-empty string");
  }
  out->model.assign(root["model"].GetString(), root["model"].GetStringLength());
  if (!streamFlags(root, out)) return false;
  Offset<flatbuffers::Vector<Offset<w::Message>>> msgs;
  Offset<w::Params> prm;
  Offset<w::Metadata> md;
  if (!messages(root, &msgs) || !params(root, &prm) || !metadata(root, &md)) return false;
  finish(out, msgs, prm, md);
  return true;
}

void Translator::finish(ChatCall* out, Offset<flatbuffers::Vector<Offset<w::Message>>> msgs, Offset<w::Params> prm,
                        Offset<w::Metadata> md) {
  Offset<w::CacheControl> cache = 0;
  if (meta_.cache_bypass || meta_.cache_no_store || meta_.cache_ttl_ms) {
    cache = w::CreateCacheControl(fbb_, meta_.cache_bypass, meta_.cache_no_store, meta_.cache_ttl_ms);
  }
  // An explicit route header picks the route by name (Engine::start); the caller's model stays
  // the request's, for a route that names no model of its own.
  out->route = std::string(meta_.route);
  auto request = w::CreateRequest(fbb_, str(out->model), msgs, prm, out->stream, md, meta_.deadlineMs(out->stream), cache);
  auto frame = w::CreateFrame(fbb_, 1, w::Body::Request, request.Union());
  w::FinishSizePrefixedFrameBuffer(fbb_, frame);
  out->frame = chain::FrameBuffer::copyOf(fbb_.GetBufferPointer(), fbb_.GetSize());
  out->request = w::GetSizePrefixedFrame(out->frame.data())->body_as_Request();
}

// Top-level embeddings fields with a home; the rest go to extra_json.
const std::set<std::string_view> kEmbedMapped = {"model", "input", "encoding_format", "dimensions", "user", "metadata"};

// A non-empty array of token ids (integers from 0 to 2^31 - 1) as compact JSON text.
bool Translator::tokenIds(const Json& array, const std::string& param, std::string* out) {
  if (array.Empty()) return fail(param, "a token array must not be empty");
  out->push_back('[');
  for (rapidjson::SizeType i = 0; i < array.Size(); ++i) {
    const Json& id = array[i];
    if (!id.IsUint() || id.GetUint() > 0x7fffffffu) {
      return fail(param, "token ids must be integers from 0 to 2147483647");
    }
    if (i) out->push_back(',');
    out->append(std::to_string(id.GetUint()));
  }
  out->push_back(']');
  return true;
}

bool Translator::runEmbeddings(const Json& root, ChatCall* out) {
  if (!root.IsObject()) return fail("", "the request body must be a JSON object");
  if (!root.HasMember("model") || !root["model"].IsString() || root["model"].GetStringLength() == 0) {
    return fail("model", "'model' is required and must be a non-empty string");
  }
  out->model.assign(root["model"].GetString(), root["model"].GetStringLength());
  auto embed = std::make_unique<chain::EmbedInput>();
  if (!root.HasMember("input")) return fail("input", "'input' is required");
  const Json& input = root["input"];
  if (input.IsString()) {
    embed->inputs.emplace_back(sv(input));
  } else if (input.IsArray()) {
    if (input.Empty()) return fail("input", "'input' must not be an empty array");
    if (input[0].IsNumber()) {
      // One input as token ids (what tiktoken-counting clients such as LangChain send).
      std::string ids;
      if (!tokenIds(input, "input", &ids)) return false;
      embed->inputs.push_back(std::move(ids));
      embed->token_ids = true;
    } else if (input[0].IsArray()) {
      for (rapidjson::SizeType i = 0; i < input.Size(); ++i) {
        std::string ids;
        if (!input[i].IsArray()) return fail("input[" + std::to_string(i) + "]", "'input' items must all be token arrays");
        if (!tokenIds(input[i], "input[" + std::to_string(i) + "]", &ids)) return false;
        embed->inputs.push_back(std::move(ids));
      }
      embed->token_ids = true;
    } else {
      for (rapidjson::SizeType i = 0; i < input.Size(); ++i) {
        const Json& item = input[i];
        if (!item.IsString()) return fail("input[" + std::to_string(i) + "]", "'input' items must all be strings");
        embed->inputs.emplace_back(sv(item));
      }
    }
  } else {
    return fail("input", "'input' must be a string, an array of strings, or token ids");
  }
  if (embed->inputs.size() > 2048) return fail("input", "'input' must have at most 2048 items");
  for (size_t i = 0; i < embed->inputs.size(); ++i) {
    if (embed->inputs[i].empty()) return fail("input", "'input' must not contain empty strings");
  }
  if (root.HasMember("encoding_format") && !root["encoding_format"].IsNull()) {
    const Json& f = root["encoding_format"];
    std::string_view v = f.IsString() ? sv(f) : std::string_view();
    if (v != "float" && v != "base64") return fail("encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
    out->base64 = v == "base64";
  }
  if (root.HasMember("dimensions") && !root["dimensions"].IsNull()) {
    const Json& d = root["dimensions"];
    if (!d.IsUint() || d.GetUint() == 0 || d.GetUint() > 65536) {
      return fail("dimensions", "'dimensions' must be an integer from 1 to 65536");
    }
    embed->dimensions = d.GetUint();
  }
  rapidjson::Document extra;
  extra.SetObject();
  for (auto it = root.MemberBegin(); it != root.MemberEnd(); ++it) {
    if (kEmbedMapped.count(sv(it->name))) continue;
    Json key(it->name, extra.GetAllocator());
    Json value(it->value, extra.GetAllocator());
    extra.AddMember(key, value, extra.GetAllocator());
  }
  if (extra.MemberCount()) embed->extra_json = toJson(extra);
  Offset<w::Metadata> md;
  if (!metadata(root, &md)) return false;
  out->embed = std::move(embed);
  finish(out, 0, 0, md);
  return true;
}

}  // namespace

bool parseBody(std::string_view body, rapidjson::Document* doc, RequestError* error) {
  json::ParseResult parsed = json::parse<rapidjson::kParseValidateEncodingFlag>(body, doc);
  if (parsed) return true;
  error->param.clear();
  std::string at = " (error at offset " + std::to_string(parsed.offset()) + ")";
  error->message = parsed.tooDeep() ? "the request body is " + json::tooDeepReason() + at
                                    : "the request body is not valid JSON" + at;
  return false;
}

bool buildChatCall(std::string_view body, const CallMetadata& meta, ChatCall* out, RequestError* error) {
  rapidjson::Document doc;
  if (!parseBody(body, &doc, error)) return false;
  return Translator(meta, error).run(doc, out);
}

bool buildEmbeddingsCall(std::string_view body, const CallMetadata& meta, ChatCall* out, RequestError* error) {
  rapidjson::Document doc;
  if (!parseBody(body, &doc, error)) return false;
  return Translator(meta, error).runEmbeddings(doc, out);
}

}  // namespace outrigger::http
