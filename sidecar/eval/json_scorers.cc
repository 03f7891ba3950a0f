// json_valid, json_schema and tool_call: the answer read as JSON.
// valijson reports a schema it cannot use by throwing instead of calling abort(); its RapidJSON
// adapter comes before any RapidJSON header so that RapidJSON's assertions throw here too.
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "bounded_json.h"
#include "eval/json_text.h"
#include "eval/scorer.h"

namespace outrigger::eval {

namespace {

class JsonValidScorer : public Scorer {
 public:
  using Scorer::Scorer;
  Score score(const EvalCase&, const CaseOutput& out) const override {
    rapidjson::Document doc;
    auto r = json::parse(out.content, &doc);
    return verdict(r.ok(), r.ok() ? 1 : 0, r.ok() ? "valid JSON" : "not JSON: " + r.reason() + " at byte " + std::to_string(r.offset()));
  }
};

class JsonSchemaScorer : public Scorer {
 public:
  using Scorer::Scorer;
  // Parses and compiles the schema; false with `error` when it is not usable.
  bool compile(std::string* error) {
    if (auto r = json::parse(config_.schema_json, &schema_doc_); !r) {
      *error = "scorer " + config_.name + ": the schema is not JSON: " + r.reason();
      return false;
    }
    try {
      valijson::SchemaParser parser;
      valijson::adapters::RapidJsonAdapter adapter(schema_doc_);
      parser.populateSchema(adapter, schema_);
    } catch (const std::exception& e) {
      *error = "scorer " + config_.name + ": unusable schema: " + e.what();
      return false;
    }
    return true;
  }
  Score score(const EvalCase&, const CaseOutput& out) const override {
    rapidjson::Document doc;
    if (auto r = json::parse(out.content, &doc); !r) return verdict(false, 0, "not JSON: " + r.reason());
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::RapidJsonAdapter target(doc);
    try {
      if (validator.validate(schema_, target, &results)) return verdict(true, 1, "valid against the schema");
    } catch (const std::exception& e) {
      return failedToRun(std::string("schema validation failed: ") + e.what());
    }
    valijson::ValidationResults::Error first;
    std::string why = "does not match the schema";
    if (results.popError(first)) {
      std::string at;
      for (const auto& part : first.context) at += part;
      why += ": " + at + ": " + first.description;
    }
    return verdict(false, 0, why);
  }

 private:
  rapidjson::Document schema_doc_;  // valijson keeps pointers into it
  valijson::Schema schema_;
};

// Compares the answer's tool calls with the case's expected_tool_calls, in order: the same
// names, and arguments equal as JSON values (so key order and spacing do not matter).
class ToolCallScorer : public Scorer {
 public:
  using Scorer::Scorer;
  Score score(const EvalCase& c, const CaseOutput& out) const override {
    rapidjson::Document want;
    if (c.expected_tool_calls_json.empty() || !json::parse(c.expected_tool_calls_json, &want) || !want.IsArray()) {
      return failedToRun("the case has no expected_tool_calls array");
    }
    if (want.Size() != out.tool_calls.size()) {
      return verdict(false, 0, "expected " + std::to_string(want.Size()) + " tool calls, got " + std::to_string(out.tool_calls.size()));
    }
    size_t matched = 0;
    std::string why;
    for (rapidjson::SizeType i = 0; i < want.Size(); ++i) {
      if (std::string mismatch = compare(want[i], out.tool_calls[i]); mismatch.empty()) {
        ++matched;
      } else if (why.empty()) {
        why = "call " + std::to_string(i) + ": " + mismatch;
      }
    }
    double score = want.Empty() ? 1.0 : static_cast<double>(matched) / want.Size();
    return verdict(why.empty(), score, why.empty() ? "tool calls match" : why);
  }

 private:
  static std::string compare(const rapidjson::Value& want, const client::ToolCall& got) {
    std::string name = stringMember(want, "name");
    if (name != got.name) return "expected " + name + ", got " + got.name;
    if (!want.IsObject() || !want.HasMember("arguments")) return "";  // name only
    rapidjson::Document want_args, got_args;
    const auto& a = want["arguments"];
    if (a.IsString()) {
      if (!json::parse(std::string_view(a.GetString(), a.GetStringLength()), &want_args)) return "expected arguments are not JSON";
    } else {
      want_args.CopyFrom(a, want_args.GetAllocator());
    }
    if (!json::parse(got.arguments, &got_args)) return "the arguments are not JSON: " + got.arguments;
    return want_args == got_args ? "" : "arguments " + got.arguments + " differ from " + toJson(want_args);
  }
};

}  // namespace

std::unique_ptr<Scorer> makeJsonScorer(const ScorerConfig& cfg, std::string* error) {
  if (cfg.type == "json_valid") return std::make_unique<JsonValidScorer>(cfg);
  if (cfg.type == "tool_call") return std::make_unique<ToolCallScorer>(cfg);
  if (cfg.type != "json_schema") return nullptr;
  auto s = std::make_unique<JsonSchemaScorer>(cfg);
  if (!s->compile(error)) return nullptr;
  return s;
}

}  // namespace outrigger::eval
