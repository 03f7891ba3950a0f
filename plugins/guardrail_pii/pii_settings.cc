#include "pii_settings.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "bounded_json.h"

namespace outrigger::pii {

const char kPiiConfigSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "definitions": {
    "action": {"enum": ["redact", "mask", "hash", "deny", "flag"]},
    "actions": {"type": "object", "additionalProperties": {"$ref": "#/definitions/action"},
                "description": "entity name -> action"},
    "label": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,31}$"}
  },
  "properties": {
    "entities": {"type": "array", "uniqueItems": true, "description": "built-in entities to detect (default: all)",
      "items": {"enum": ["email", "phone", "credit_card", "iban", "us_ssn", "ipv4", "ipv6", "openai_key",
                         "anthropic_key", "aws_access_key", "aws_secret_key", "github_token", "slack_token",
                         "google_api_key", "jwt", "private_key"]}},
    "action": {"$ref": "#/definitions/action", "description": "what happens to every detection (default redact)"},
    "actions": {"$ref": "#/definitions/actions", "description": "per entity, on the request and the answer"},
    "response_actions": {"$ref": "#/definitions/actions", "description": "per entity, on the answer only"},
    "scan_request": {"type": "boolean", "description": "apply the actions to the caller's messages (default true)"},
    "scan_response": {"type": "boolean", "description": "apply them to the answer and its chunks (default true)"},
    "reversible": {"type": "boolean", "description": "restore request placeholders in the answer (default false)"},
    "hash_salt": {"type": "string", "description": "prepended to a value before hashing (action hash)"},
    "mask_char": {"type": "string", "minLength": 1, "maxLength": 1},
    "mask_keep": {"type": "integer", "minimum": 0, "maximum": 16, "description": "trailing characters a mask leaves (default 4)"},
    "min_score": {"type": "number", "minimum": 0, "maximum": 1, "description": "confidence a detection needs (default 0.5)"},
    "phone_regions": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]{2}$"},
                      "description": "regions whose national formats are phone numbers (default [\"US\"])"},
    "custom": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["name", "pattern"],
      "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"}, "label": {"$ref": "#/definitions/label"},
                     "pattern": {"type": "string", "minLength": 1}, "caseless": {"type": "boolean"},
                     "score": {"type": "number", "minimum": 0, "maximum": 1},
                     "max_length": {"type": "integer", "minimum": 1, "maximum": 65536}}}},
    "deny_lists": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["name", "terms"],
      "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"}, "label": {"$ref": "#/definitions/label"},
                     "terms": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1, "maxLength": 256}}}}},
    "on_detector_error": {"enum": ["deny", "redact_all"], "description": "when detection fails (default deny)"},
    "max_candidates": {"type": "integer", "minimum": 1000, "maximum": 4294967295, "description": "pattern matches one text may produce before detection fails"},
    "fail_scans_for_test": {"type": "boolean", "description": "test hook: every scan fails as Vectorscan does"}
  }
})json";

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string labelOf(const rapidjson::Value& v, const std::string& name) {
  return v.HasMember("label") ? v["label"].GetString() : upper(name);
}

Action actionOf(const rapidjson::Value& v) {
  Action a = Action::kRedact;
  parseAction(v.GetString(), &a);  // the schema allows only known names
  return a;
}

void applyActions(const rapidjson::Value& actions, const char* key, const Detector& detector, RedactionPolicy* policy) {
  for (const auto& m : actions.GetObject()) {
    const std::string name = m.name.GetString();
    bool found = false;
    for (size_t i = 0; i < detector.entityCount(); ++i) {
      if (detector.entity(i).name == name) {
        policy->actions[i] = actionOf(m.value);
        found = true;
      }
    }
    if (!found) throw std::runtime_error(std::string(key) + ": '" + name + "' is not an enabled entity, custom pattern or deny list");
  }
}

}  // namespace

PiiSettings parsePiiSettings(std::string_view config_json) {
  rapidjson::Document d;
  if (!outrigger::json::parse(config_json, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  PiiSettings s;
  DetectorSettings ds;
  std::vector<std::string> enabled = builtinEntityNames();
  if (d.HasMember("entities")) {
    enabled.clear();
    for (const auto& e : d["entities"].GetArray()) enabled.emplace_back(e.GetString());
  }
  addBuiltins(enabled, &ds.entities, &ds.patterns);
  if (d.HasMember("custom")) {
    for (const auto& c : d["custom"].GetArray()) {
      const std::string name = c["name"].GetString();
      addCustom(name, labelOf(c, name), c["pattern"].GetString(), c.HasMember("caseless") && c["caseless"].GetBool(),
                c.HasMember("score") ? c["score"].GetDouble() : 0.8, c.HasMember("max_length") ? c["max_length"].GetUint() : 256,
                &ds.entities, &ds.patterns);
    }
  }
  if (d.HasMember("deny_lists")) {
    for (const auto& l : d["deny_lists"].GetArray()) {
      const std::string name = l["name"].GetString();
      std::vector<std::string> terms;
      for (const auto& t : l["terms"].GetArray()) terms.emplace_back(t.GetString());
      addDenyList(name, labelOf(l, name), terms, &ds.entities, &ds.patterns);
    }
  }
  for (size_t i = 0; i < ds.entities.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (ds.entities[i].name == ds.entities[j].name) throw std::runtime_error("entity name '" + ds.entities[i].name + "' is used twice");
    }
  }
  if (ds.entities.empty()) throw std::runtime_error("nothing to detect: entities is empty and there are no custom patterns or deny lists");
  if (d.HasMember("phone_regions")) {
    ds.phone_regions.clear();
    for (const auto& r : d["phone_regions"].GetArray()) {
      std::string region = r.GetString();
      if (!PhoneValidator::knownRegion(region)) throw std::runtime_error("phone_regions: unknown region '" + region + "'");
      ds.phone_regions.push_back(region);
    }
  }
  if (d.HasMember("min_score")) ds.min_score = d["min_score"].GetDouble();

  std::string error;
  s.detector = Detector::build(std::move(ds), &error);
  if (!s.detector) throw std::runtime_error("patterns: " + error);

  const Action fallback = d.HasMember("action") ? actionOf(d["action"]) : Action::kRedact;
  s.request_policy.actions.assign(s.detector->entityCount(), fallback);
  if (d.HasMember("actions")) applyActions(d["actions"], "actions", *s.detector, &s.request_policy);
  if (d.HasMember("hash_salt")) s.request_policy.hash_salt = d["hash_salt"].GetString();
  if (d.HasMember("mask_char")) s.request_policy.mask_char = d["mask_char"].GetString();  // one code point (the schema)
  if (d.HasMember("mask_keep")) s.request_policy.mask_keep = d["mask_keep"].GetUint();
  s.response_policy = s.request_policy;
  if (d.HasMember("response_actions")) applyActions(d["response_actions"], "response_actions", *s.detector, &s.response_policy);

  if (d.HasMember("scan_request")) s.scan_request = d["scan_request"].GetBool();
  if (d.HasMember("scan_response")) s.scan_response = d["scan_response"].GetBool();
  if (d.HasMember("reversible")) s.reversible = d["reversible"].GetBool();
  if (d.HasMember("on_detector_error")) {
    s.on_error = std::string_view(d["on_detector_error"].GetString()) == "redact_all" ? OnDetectorError::kRedactAll
                                                                                      : OnDetectorError::kDeny;
  }
  if (d.HasMember("max_candidates")) s.max_candidates = d["max_candidates"].GetUint64();
  s.fail_scans_for_test = d.HasMember("fail_scans_for_test") && d["fail_scans_for_test"].GetBool();
  return s;
}

}  // namespace outrigger::pii
