#include "eval/chat_backend.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "json/bounded_json.h"

namespace outrigger::eval {

namespace {

std::string stringMember(const rapidjson::Value& o, const char* key) {
  auto it = o.FindMember(key);
  return it != o.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                    : std::string();
}

std::string jsonText(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace

// OpenAI's `tools` ([{type, function: {name, description, parameters}}]) and `response_format`
// ({type, json_schema: {name, schema, strict}}) as the request's own fields.
void applyCaseParams(const CaseParams& params, client::ChatRequest* req) {
  rapidjson::Document tools, format;
  if (!params.tools_json.empty() && json::parse(params.tools_json, &tools) && tools.IsArray()) {
    for (const auto& t : tools.GetArray()) {
      const rapidjson::Value* fn = t.IsObject() && t.HasMember("function") ? &t["function"] : nullptr;
      if (!fn || !fn->IsObject()) continue;
      client::Tool tool;
      tool.name = stringMember(*fn, "name");
      tool.description = stringMember(*fn, "description");
      if (fn->HasMember("parameters")) tool.parameters_json = jsonText((*fn)["parameters"]);
      req->tools.push_back(std::move(tool));
    }
  }
  if (params.response_format_json.empty() || !json::parse(params.response_format_json, &format) || !format.IsObject()) return;
  client::ResponseFormat f;
  std::string type = stringMember(format, "type");
  f.type = type == "json_object"   ? client::ResponseFormat::Type::kJsonObject
           : type == "json_schema" ? client::ResponseFormat::Type::kJsonSchema
                                   : client::ResponseFormat::Type::kText;
  if (format.HasMember("json_schema") && format["json_schema"].IsObject()) {
    const auto& js = format["json_schema"];
    f.schema_name = stringMember(js, "name");
    if (js.HasMember("schema")) f.schema_json = jsonText(js["schema"]);
    f.strict = js.HasMember("strict") && js["strict"].IsBool() && js["strict"].GetBool();
  }
  req->response_format = std::move(f);
}

}  // namespace outrigger::eval
