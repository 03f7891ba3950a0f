#include "json_settings.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <stdexcept>

#include <outrigger/plugin.h>

#include "bounded_json.h"

namespace outrigger::jsonguard {

const ConfigKey kConfigKeys[] = {
    {"schema", R"({"type": "object"})",
     "JSON Schema the answer's text must match when the request names none (or always, with request_schemas = false)"},
    {"request_schemas", R"({"type": "boolean"})",
     "check the answer against the request's response_format: json_schema, or json_object (default true)"},
    {"tool_calls", R"({"type": "boolean"})",
     "check tool calls: a declared name, tool_choice kept, arguments valid for the tool's parameters (default true)"},
    {"strip", R"({"type": "boolean"})",
     "take the JSON value out of code fences and prose; the client gets the bare value (default true)"},
    {"max_reasks", R"({"type": "integer", "minimum": 0, "maximum": 10})",
     "re-asks with a repair prompt before the typed error; the route's max_reasks caps it too (default 1)"},
    {"deny_code", R"({"enum": ["failed_precondition", "invalid_argument", "permission_denied"]})",
     "the code an answer that stays invalid ends with (default failed_precondition: HTTP 400)"},
    {"on_truncated", R"({"enum": ["deny", "continue"]})",
     "an answer cut off at max_tokens: the typed error, or ask the model to continue it (default deny)"},
    {"streaming", R"({"enum": ["hold", "check_at_end"]})",
     "hold a checked stream back until it validates, or let chunks go and check at the end (default hold)"},
    {"repair_prompt", R"({"type": "string", "minLength": 1, "maxLength": 8192, "pattern": "\\{errors\\}"})",
     "the repair prompt; {errors} becomes the list of errors and {schema} the schema's name"},
    {"max_schema_bytes", R"({"type": "integer", "minimum": 1024, "maximum": 1048576})",
     "largest schema a caller may send in response_format or a tool's parameters (default 65536)"},
    {"max_schema_depth", R"({"type": "integer", "minimum": 4, "maximum": 128})",
     "deepest nesting of a caller's schema (default 32)"},
    {"max_schema_fanout", R"({"type": "integer", "minimum": 16, "maximum": 1000000})",
     "schemas a schema may apply to one value through $ref and combinators, at any nesting of the answer (default 10000)"},
    {"max_answer_checks", R"({"type": "integer", "minimum": 1000, "maximum": 100000000})",
     "schema applications one answer's check may take, its values and schemas together (default 1000000)"},
    {"max_errors", R"({"type": "integer", "minimum": 1, "maximum": 50})",
     "validation errors quoted in the reason and the repair prompt (default 8)"},
    {"schema_cache", R"({"type": "integer", "minimum": 0, "maximum": 4096})",
     "compiled caller schemas kept per worker, by text (default 64)"},
};
const size_t kConfigKeyCount = sizeof kConfigKeys / sizeof kConfigKeys[0];

namespace {

std::string buildSchema() {
  std::string s = R"({"type": "object", "additionalProperties": false, "properties": {)";
  for (size_t i = 0; i < kConfigKeyCount; ++i) {
    const ConfigKey& k = kConfigKeys[i];
    std::string fragment(k.schema);
    fragment.pop_back();  // the closing brace: the description goes in
    rapidjson::StringBuffer description;
    rapidjson::Writer<rapidjson::StringBuffer> w(description);
    w.String(k.description);
    s += std::string(i ? ", " : "") + "\"" + k.name + "\": " + fragment + ", \"description\": " + description.GetString() + "}";
  }
  return s + "}}";
}

int32_t codeNamed(std::string_view name) {
  if (name == "invalid_argument") return OUTRIGGER_CODE_INVALID_ARGUMENT;
  if (name == "permission_denied") return OUTRIGGER_CODE_PERMISSION_DENIED;
  return OUTRIGGER_CODE_FAILED_PRECONDITION;
}

std::string textOf(const rapidjson::Value& v) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  v.Accept(w);  // bounded: the host parsed the config within json::kMaxDepth
  return out.GetString();
}

}  // namespace

const std::string& configSchema() {
  static const std::string schema = buildSchema();
  return schema;
}

JsonSettings parseJsonSettings(std::string_view config_json) {
  rapidjson::Document d;
  if (!json::parse(config_json, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  JsonSettings s;
  auto flag = [&](const char* key, bool* out) {
    if (d.HasMember(key)) *out = d[key].GetBool();
  };
  auto count = [&](const char* key, auto* out) {
    if (d.HasMember(key)) *out = static_cast<std::remove_pointer_t<decltype(out)>>(d[key].GetUint64());
  };
  flag("request_schemas", &s.request_schemas);
  flag("tool_calls", &s.tool_calls);
  flag("strip", &s.check.strip);
  count("max_reasks", &s.max_reasks);
  count("max_schema_bytes", &s.limits.max_bytes);
  count("max_schema_depth", &s.limits.max_depth);
  count("max_schema_fanout", &s.limits.max_fanout);
  count("max_answer_checks", &s.limits.max_answer_checks);
  count("max_errors", &s.check.max_errors);
  count("schema_cache", &s.schema_cache);
  if (d.HasMember("deny_code")) s.deny_code = codeNamed(d["deny_code"].GetString());
  if (d.HasMember("on_truncated") && std::string_view(d["on_truncated"].GetString()) == "continue") {
    s.on_truncated = OnTruncated::kContinue;
  }
  if (d.HasMember("streaming") && std::string_view(d["streaming"].GetString()) == "check_at_end") {
    s.streaming = StreamMode::kCheckAtEnd;
  }
  if (d.HasMember("repair_prompt")) s.repair_prompt = d["repair_prompt"].GetString();
  if (d.HasMember("schema")) {
    CompileResult compiled = compileSchema(textOf(d["schema"]), SchemaSource::kConfig, s.limits);
    if (!compiled.schema) throw std::runtime_error("schema: " + compiled.error);
    s.schema = std::move(compiled.schema);
  }
  return s;
}

}  // namespace outrigger::jsonguard
