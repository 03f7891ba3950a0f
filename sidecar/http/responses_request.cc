#include "http/responses_request.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <set>
#include <string>
#include <vector>

namespace outrigger::http {
namespace {

using Json = rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string_view sv(const Json& v) { return {v.GetString(), v.GetStringLength()}; }
void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

bool isString(const Json& o, const char* key) { return o.HasMember(key) && o[key].IsString(); }

const std::set<std::string_view> kTranslated = {
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text", "max_output_tokens",
    "temperature", "top_p", "metadata", "user", "reasoning", "stream", "previous_response_id", "conversation",
    "background"};
// Responses-only fields with no Chat Completions meaning here: accepted and ignored.
const std::set<std::string_view> kDropped = {"store", "include", "truncation", "stream_options", "max_tool_calls"};

// Writes the Chat Completions body a Responses body means; the first problem found stops it.
class ResponsesTranslator {
 public:
  ResponsesTranslator(Writer& w, RequestError* error) : w_(w), error_(error) {}

  bool run(const Json& root) {
    if (!root.IsObject()) return fail("", "the request body must be a JSON object");
    // A stored prompt carries instructions and variables kept at OpenAI: without them the model
    // would answer another question.
    if (root.HasMember("prompt") && !root["prompt"].IsNull()) {
      return fail("prompt", "prompt (a stored prompt) is not supported: send its instructions and input in the request");
    }
    for (const char* stateful : {"previous_response_id", "conversation"}) {
      if (root.HasMember(stateful) && !root[stateful].IsNull()) {
        return fail(stateful, std::string(stateful) +
                                  " is not supported: this gateway keeps no responses; send the whole conversation in "
                                  "'input' (with store: false)");
      }
    }
    if (root.HasMember("background") && root["background"].IsBool() && root["background"].GetBool()) {
      return fail("background", "background responses are not supported: they need stored responses");
    }
    if (!isString(root, "model")) return fail("model", "'model' is required and must be a string");
    w_.StartObject();
    w_.Key("model"), w_.String(root["model"].GetString(), root["model"].GetStringLength());
    if (!messages(root)) return false;
    if (!tools(root)) return false;
    if (!format(root)) return false;
    if (!scalars(root)) return false;
    // Anything else goes on as the Chat Completions front keeps unknown fields (for providers and
    // plugins), but for fields only the Responses API knows, which an upstream would refuse.
    for (auto m = root.MemberBegin(); m != root.MemberEnd(); ++m) {
      std::string_view name = sv(m->name);
      if (kTranslated.count(name) || kDropped.count(name)) continue;
      w_.Key(m->name.GetString(), m->name.GetStringLength());
      m->value.Accept(w_);
    }
    w_.EndObject();
    return true;
  }

 private:
  bool fail(std::string param, std::string message) {
    error_->param = std::move(param);
    error_->message = std::move(message);
    return false;
  }

  // The text of a content value: a string, or a list of text parts.
  bool text(const Json& content, const std::string& where, std::string* out) {
    if (content.IsString()) {
      *out = std::string(sv(content));
      return true;
    }
    if (!content.IsArray()) return fail(where, "'" + where + "' must be a string or a list of content parts");
    for (rapidjson::SizeType i = 0; i < content.Size(); ++i) {
      const Json& part = content[i];
      std::string at = where + "[" + std::to_string(i) + "]";
      if (!part.IsObject() || !isString(part, "type")) return fail(at, "'" + at + "' must be a content part with a type");
      std::string_view type = sv(part["type"]);
      if (type != "input_text" && type != "output_text" && type != "text") {
        return fail(at + ".type", "content parts of type '" + std::string(type) +
                                      "' are not supported here; only text (input_text, output_text)");
      }
      if (!isString(part, "text")) return fail(at + ".text", "'" + at + ".text' must be a string");
      out->append(sv(part["text"]));
    }
    return true;
  }

  void message(std::string_view role, std::string_view content) {
    w_.StartObject();
    w_.Key("role"), str(w_, role == "developer" ? "system" : role);
    w_.Key("content"), str(w_, content);
    w_.EndObject();
  }

  // Consecutive function_call items become one assistant message with several tool calls.
  void flushCalls() {
    if (calls_.empty()) return;
    w_.StartObject();
    w_.Key("role"), w_.String("assistant");
    w_.Key("content"), w_.Null();
    w_.Key("tool_calls");
    w_.StartArray();
    for (const auto& c : calls_) {
      w_.StartObject();
      w_.Key("id"), str(w_, c.id);
      w_.Key("type"), w_.String("function");
      w_.Key("function");
      w_.StartObject();
      w_.Key("name"), str(w_, c.name);
      w_.Key("arguments"), str(w_, c.arguments);
      w_.EndObject();
      w_.EndObject();
    }
    w_.EndArray();
    w_.EndObject();
    calls_.clear();
  }

  bool item(const Json& it, const std::string& at) {
    if (!it.IsObject()) return fail(at, "'" + at + "' must be an object");
    std::string_view type = isString(it, "type") ? sv(it["type"]) : std::string_view("message");
    if (type == "function_call") {
      for (const char* k : {"call_id", "name", "arguments"}) {
        if (!isString(it, k)) return fail(at + "." + k, "'" + at + "." + k + "' must be a string");
      }
      calls_.push_back({std::string(sv(it["call_id"])), std::string(sv(it["name"])), std::string(sv(it["arguments"]))});
      return true;
    }
    flushCalls();
    if (type == "function_call_output") {
      if (!isString(it, "call_id")) return fail(at + ".call_id", "'" + at + ".call_id' must be a string");
      std::string output;
      if (!it.HasMember("output") || !text(it["output"], at + ".output", &output)) {
        return error_->message.empty() ? fail(at + ".output", "'" + at + ".output' is required") : false;
      }
      w_.StartObject();
      w_.Key("role"), w_.String("tool");
      w_.Key("tool_call_id"), str(w_, sv(it["call_id"]));
      w_.Key("content"), str(w_, output);
      w_.EndObject();
      return true;
    }
    if (type == "reasoning") return true;  // a model's own reasoning, echoed back: nothing to send on
    if (type != "message") {
      return fail(at + ".type", "input items of type '" + std::string(type) + "' are not supported here");
    }
    if (!isString(it, "role")) return fail(at + ".role", "'" + at + ".role' must be a string");
    std::string_view role = sv(it["role"]);
    if (role != "user" && role != "assistant" && role != "system" && role != "developer") {
      return fail(at + ".role", "'" + at + ".role' must be user, assistant, system or developer");
    }
    std::string content;
    if (!it.HasMember("content")) return fail(at + ".content", "'" + at + ".content' is required");
    if (!text(it["content"], at + ".content", &content)) return false;
    message(role, content);
    return true;
  }

  bool messages(const Json& root) {
    if (!root.HasMember("input")) return fail("input", "'input' is required");
    const Json& input = root["input"];
    w_.Key("messages");
    w_.StartArray();
    if (root.HasMember("instructions") && !root["instructions"].IsNull()) {
      if (!root["instructions"].IsString()) return fail("instructions", "'instructions' must be a string");
      message("system", sv(root["instructions"]));
    }
    if (input.IsString()) {
      message("user", sv(input));
    } else if (input.IsArray() && !input.Empty()) {
      for (rapidjson::SizeType i = 0; i < input.Size(); ++i) {
        if (!item(input[i], "input[" + std::to_string(i) + "]")) return false;
      }
      flushCalls();
    } else {
      return fail("input", "'input' must be a string or a non-empty list of items");
    }
    w_.EndArray();
    return true;
  }

  bool tools(const Json& root) {
    if (root.HasMember("tools") && !root["tools"].IsNull()) {
      const Json& tools = root["tools"];
      if (!tools.IsArray()) return fail("tools", "'tools' must be a list");
      if (!tools.Empty()) {
        w_.Key("tools");
        w_.StartArray();
        for (rapidjson::SizeType i = 0; i < tools.Size(); ++i) {
          const Json& t = tools[i];
          std::string at = "tools[" + std::to_string(i) + "]";
          if (!t.IsObject() || !isString(t, "type")) return fail(at, "'" + at + "' must be a tool with a type");
          if (sv(t["type"]) != "function") {
            return fail(at + ".type", "built-in tools ('" + std::string(sv(t["type"])) +
                                          "') are not supported here; only function tools");
          }
          if (!isString(t, "name")) return fail(at + ".name", "'" + at + ".name' must be a string");
          w_.StartObject();
          w_.Key("type"), w_.String("function");
          w_.Key("function");
          w_.StartObject();
          for (const char* k : {"name", "description", "parameters", "strict"}) {
            if (t.HasMember(k) && !t[k].IsNull()) w_.Key(k), t[k].Accept(w_);
          }
          w_.EndObject();
          w_.EndObject();
        }
        w_.EndArray();
      }
    }
    if (root.HasMember("tool_choice") && !root["tool_choice"].IsNull()) {
      const Json& c = root["tool_choice"];
      w_.Key("tool_choice");
      if (c.IsString()) {
        c.Accept(w_);
      } else if (c.IsObject() && isString(c, "type") && sv(c["type"]) == "function" && isString(c, "name")) {
        // Responses names the tool at the top; Chat Completions inside "function".
        w_.StartObject();
        w_.Key("type"), w_.String("function");
        w_.Key("function");
        w_.StartObject();
        w_.Key("name"), str(w_, sv(c["name"]));
        w_.EndObject();
        w_.EndObject();
      } else {
        return fail("tool_choice", "'tool_choice' must be auto, none, required or {\"type\":\"function\",\"name\":...}");
      }
    }
    if (root.HasMember("parallel_tool_calls") && root["parallel_tool_calls"].IsBool()) {
      w_.Key("parallel_tool_calls"), w_.Bool(root["parallel_tool_calls"].GetBool());
    }
    return true;
  }

  bool format(const Json& root) {
    if (!root.HasMember("text") || !root["text"].IsObject() || !root["text"].HasMember("format")) return true;
    const Json& f = root["text"]["format"];
    if (!f.IsObject() || !isString(f, "type")) return fail("text.format", "'text.format' must be an object with a type");
    std::string_view type = sv(f["type"]);
    if (type == "text") return true;
    w_.Key("response_format");
    w_.StartObject();
    if (type == "json_object") {
      w_.Key("type"), w_.String("json_object");
    } else if (type == "json_schema") {
      if (!f.HasMember("schema") || !f["schema"].IsObject()) {
        return fail("text.format.schema", "'text.format.schema' must be a JSON Schema object");
      }
      w_.Key("type"), w_.String("json_schema");
      w_.Key("json_schema");
      w_.StartObject();
      w_.Key("name"), str(w_, isString(f, "name") ? sv(f["name"]) : std::string_view("response"));
      if (isString(f, "description")) w_.Key("description"), str(w_, sv(f["description"]));
      w_.Key("schema"), f["schema"].Accept(w_);
      if (f.HasMember("strict") && f["strict"].IsBool()) w_.Key("strict"), w_.Bool(f["strict"].GetBool());
      w_.EndObject();
    } else {
      return fail("text.format.type", "'text.format.type' must be text, json_object or json_schema");
    }
    w_.EndObject();
    return true;
  }

  // Fields that keep their meaning under another name, or the same one.
  bool scalars(const Json& root) {
    if (root.HasMember("max_output_tokens") && !root["max_output_tokens"].IsNull()) {
      w_.Key("max_completion_tokens"), root["max_output_tokens"].Accept(w_);
    }
    for (const char* k : {"temperature", "top_p", "metadata", "user"}) {
      if (root.HasMember(k) && !root[k].IsNull()) w_.Key(k), root[k].Accept(w_);
    }
    if (root.HasMember("text") && root["text"].IsObject() && isString(root["text"], "verbosity")) {
      w_.Key("verbosity"), str(w_, sv(root["text"]["verbosity"]));  // Chat Completions' name for it
    }
    if (root.HasMember("reasoning") && root["reasoning"].IsObject() && isString(root["reasoning"], "effort")) {
      w_.Key("reasoning_effort"), str(w_, sv(root["reasoning"]["effort"]));
    }
    if (root.HasMember("stream") && !root["stream"].IsNull()) {
      if (!root["stream"].IsBool()) return fail("stream", "'stream' must be a boolean");
      w_.Key("stream"), w_.Bool(root["stream"].GetBool());
      if (root["stream"].GetBool()) {
        w_.Key("stream_options");
        w_.StartObject();
        w_.Key("include_usage"), w_.Bool(true);  // response.completed always carries usage
        w_.EndObject();
      }
    }
    return true;
  }

  struct Call {
    std::string id, name, arguments;
  };
  Writer& w_;
  RequestError* error_;
  std::vector<Call> calls_;
};

}  // namespace

bool buildResponsesCall(std::string_view body, const CallMetadata& meta, ChatCall* out, RequestError* error) {
  rapidjson::Document doc;
  if (!parseBody(body, &doc, error)) return false;
  rapidjson::StringBuffer chat;
  Writer w(chat);
  ResponsesTranslator translator(w, error);
  if (!translator.run(doc)) return false;
  if (!buildChatCall(std::string_view(chat.GetString(), chat.GetSize()), meta, out, error)) return false;
  rapidjson::StringBuffer echo;
  Writer e(echo);
  e.StartObject();
  for (const char* key : {"tools", "tool_choice", "parallel_tool_calls", "metadata"}) {
    if (!doc.HasMember(key) || doc[key].IsNull()) continue;
    e.Key(key);
    doc[key].Accept(e);
  }
  e.EndObject();
  out->responses_echo.assign(echo.GetString(), echo.GetSize());
  return true;
}

}  // namespace outrigger::http
