#include "plugin/schema.h"

#include <rapidjson/document.h>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "bounded_json.h"

namespace outrigger::plugin {

struct ConfigSchema {
  rapidjson::Document doc;  // valijson keeps pointers into the document
  valijson::Schema schema;
};

Expected<std::shared_ptr<const ConfigSchema>> compileSchema(std::string_view schema_json) {
  auto out = std::make_shared<ConfigSchema>();
  json::ParseResult parsed = json::parse(schema_json, &out->doc);
  if (parsed.tooDeep()) return Status(Code::kInvalidArgument, "config schema is " + json::tooDeepReason());
  if (!parsed) return Status(Code::kInvalidArgument, "config schema is not JSON: " + parsed.reason());
  try {
    valijson::SchemaParser parser;
    valijson::adapters::RapidJsonAdapter adapter(out->doc);
    parser.populateSchema(adapter, out->schema);
  } catch (const std::exception& e) {
    return Status(Code::kInvalidArgument, std::string("config schema is not valid JSON Schema: ") + e.what());
  }
  return std::shared_ptr<const ConfigSchema>(std::move(out));
}

namespace {

// valijson context is {"<root>", "[key]", "[0]" ...}; turn it into a JSON pointer.
std::string pointerOf(const std::vector<std::string>& context) {
  std::string p;
  for (const std::string& c : context) {
    if (c.size() >= 2 && c.front() == '[' && c.back() == ']') {
      std::string inner = c.substr(1, c.size() - 2);
      if (inner.size() >= 2 && inner.front() == '"' && inner.back() == '"') {
        inner = inner.substr(1, inner.size() - 2);
      }
      p += "/" + inner;
    }
  }
  return p;
}

}  // namespace

Status validateConfig(const ConfigSchema& schema, std::string_view config_json,
                      const std::map<std::string, std::string>& lines) {
  rapidjson::Document doc;
  json::ParseResult parsed = json::parse(config_json, &doc);
  if (parsed.tooDeep()) return Status(Code::kInvalidArgument, "config is " + json::tooDeepReason());
  if (!parsed) return Status(Code::kInvalidArgument, "config is not valid JSON");
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::RapidJsonAdapter adapter(doc);
  if (validator.validate(schema.schema, adapter, &results)) return Status::ok();
  // The deepest error is the most specific one.
  valijson::ValidationResults::Error best, e;
  while (results.popError(e)) {
    if (best.context.empty() || e.context.size() > best.context.size()) best = e;
  }
  std::string pointer = pointerOf(best.context);
  std::string where;
  for (std::string p = pointer;; ) {
    auto it = lines.find(p);
    if (it != lines.end()) {
      where = it->second;
      break;
    }
    if (p.empty()) break;
    p = p.substr(0, p.rfind('/'));
  }
  std::string key = pointer.empty() ? "config" : "config" + pointer;
  return Status(Code::kInvalidArgument,
                (where.empty() ? "" : where + ": ") + key + ": " + best.description);
}

}  // namespace outrigger::plugin
