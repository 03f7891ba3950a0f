#include "content_settings.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <stdexcept>

#include "bounded_json.h"

namespace outrigger::content {

const char kConfigSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "injection": {
      "type": "object", "additionalProperties": false,
      "description": "prompt-injection and jailbreak scoring of the request's messages",
      "properties": {
        "enabled": {"type": "boolean", "description": "default true"},
        "deny_score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "deny at or above (default 0.8)"},
        "flag_score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "flag at or above (default 0.5)"},
        "roles": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "roles whose messages are scored (default user, tool)"},
        "builtin_rules": {"type": "boolean", "description": "use the maintained rule set (default true)"},
        "disable_rules": {"type": "array", "items": {"type": "string"}, "description": "built-in rule names to leave out"},
        "extra_rules": {"type": "array", "items": {
          "type": "object", "additionalProperties": false, "required": ["name", "pattern", "score"],
          "properties": {
            "name": {"type": "string", "minLength": 1},
            "category": {"type": "string"},
            "pattern": {"type": "string", "minLength": 1, "description": "Vectorscan (PCRE syntax, no look-around), matched case-insensitively"},
            "score": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
          }}}
      }
    },
    "judge": {
      "type": "object", "additionalProperties": false, "required": ["route"],
      "description": "ask a route (listed in the calling route's 'calls') for a verdict",
      "properties": {
        "route": {"type": "string", "minLength": 1},
        "mode": {"enum": ["uncertain", "always"], "description": "uncertain (default): only prompts the rules flag but do not deny"},
        "rubric": {"type": "string", "minLength": 1, "description": "the judge's system prompt; it must answer SAFE or UNSAFE"},
        "timeout_ms": {"type": "integer", "minimum": 1, "maximum": 86400000},
        "cache_entries": {"type": "integer", "minimum": 0, "maximum": 100000000, "description": "verdicts kept per worker (default 10000)"},
        "cache_ttl_s": {"type": "integer", "minimum": 1, "maximum": 31536000, "description": "default 3600"},
        "on_error": {"enum": ["deny", "flag", "pass"], "description": "when the judge fails or answers neither (default deny)"},
        "max_chars": {"type": "integer", "minimum": 64, "maximum": 4294967295, "description": "prompt bytes sent to the judge (default 8000)"}
      }
    },
    "refusal": {
      "type": "object", "additionalProperties": false,
      "description": "answers that refuse: the provider's refusal field, or refusal phrasing at the start",
      "properties": {
        "action": {"enum": ["off", "flag", "deny"], "description": "default flag"},
        "window_bytes": {"type": "integer", "minimum": 16, "maximum": 65536, "description": "how far into the answer phrasing counts (default 200)"},
        "builtin_phrases": {"type": "boolean", "description": "default true"},
        "phrases": {"type": "array", "items": {"type": "string", "minLength": 1}}
      }
    },
    "empty_answer": {"enum": ["off", "flag", "deny"], "description": "an answer with no text but whitespace and no tool calls (default flag)"},
    "max_answer_chars": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "characters (code points) an answer may have"},
    "on_max_answer": {"enum": ["flag", "deny"], "description": "default deny"},
    "banned_topics": {"type": "array", "items": {
      "type": "object", "additionalProperties": false, "required": ["name", "keywords"],
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "keywords": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1, "maxLength": 200},
                     "description": "words or phrases, matched whole and case-insensitively"},
        "action": {"enum": ["flag", "deny"], "description": "default deny"},
        "side": {"enum": ["request", "answer", "both"], "description": "default both"}
      }}}
  }
})json";

namespace {

Action actionOf(const rapidjson::Value& v) {
  const std::string s = v.GetString();
  return s == "deny" ? Action::kDeny : s == "flag" ? Action::kFlag : Action::kOff;
}

std::vector<std::string> strings(const rapidjson::Value& v) {
  std::vector<std::string> out;
  for (const auto& s : v.GetArray()) out.emplace_back(s.GetString(), s.GetStringLength());
  return out;
}

std::vector<Rule> injectionRules(const rapidjson::Value& inj) {
  std::vector<Rule> rules;
  if (!inj.HasMember("builtin_rules") || inj["builtin_rules"].GetBool()) {
    rules = parseRules(builtinRulesText(), "injection_rules.toml");
  }
  if (inj.HasMember("disable_rules")) {
    for (const std::string& name : strings(inj["disable_rules"])) {
      auto it = std::find_if(rules.begin(), rules.end(), [&](const Rule& r) { return r.name == name; });
      if (it == rules.end()) throw std::runtime_error("disable_rules: no built-in rule named '" + name + "'");
      rules.erase(it);
    }
  }
  if (inj.HasMember("extra_rules")) {
    for (const auto& r : inj["extra_rules"].GetArray()) {
      rules.push_back({r["name"].GetString(), r.HasMember("category") ? r["category"].GetString() : "custom",
                       r["score"].GetDouble(), r["pattern"].GetString()});
    }
  }
  return rules;
}

void readJudge(const rapidjson::Value& j, JudgeSettings* out) {
  out->route = j["route"].GetString();
  out->always = j.HasMember("mode") && std::string(j["mode"].GetString()) == "always";
  out->rubric = j.HasMember("rubric") ? j["rubric"].GetString() : "";
  if (j.HasMember("timeout_ms")) out->timeout_ms = j["timeout_ms"].GetUint();
  if (j.HasMember("cache_entries")) out->cache_entries = j["cache_entries"].GetUint64();
  if (j.HasMember("cache_ttl_s")) out->cache_ttl_s = j["cache_ttl_s"].GetUint();
  if (j.HasMember("on_error")) {
    const std::string e = j["on_error"].GetString();
    out->on_error = e == "deny" ? Action::kDeny : e == "flag" ? Action::kFlag : Action::kOff;
  }
  if (j.HasMember("max_chars")) out->max_chars = j["max_chars"].GetUint64();
}

void readTopics(const rapidjson::Value& list, ContentSettings* s) {
  std::vector<PhraseGroup> request_groups, answer_groups;
  for (const auto& t : list.GetArray()) {
    BannedTopic topic;
    topic.name = t["name"].GetString();
    if (t.HasMember("action")) topic.action = actionOf(t["action"]);
    const std::string side = t.HasMember("side") ? t["side"].GetString() : "both";
    topic.on_request = side != "answer";
    topic.on_answer = side != "request";
    PhraseGroup group{topic.name, strings(t["keywords"])};
    if (topic.on_request) {
      s->request_topics.push_back(topic);
      request_groups.push_back(group);
    }
    if (topic.on_answer) {
      s->answer_topics.push_back(topic);
      answer_groups.push_back(group);
    }
  }
  s->request_phrases = PhraseMatcher(request_groups);
  s->answer_phrases = PhraseMatcher(answer_groups);
}

}  // namespace

bool ContentSettings::scansRole(std::string_view role) const {
  if (role == "function") role = "tool";  // the legacy role of a tool's result: scored wherever `tool` is
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

const char* actionName(Action a) { return a == Action::kDeny ? "deny" : a == Action::kFlag ? "flag" : "off"; }

std::unique_ptr<ContentSettings> parseSettings(std::string_view config_json) {
  rapidjson::Document d;
  if (!outrigger::json::parse(config_json, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  auto s = std::make_unique<ContentSettings>();
  rapidjson::Value empty(rapidjson::kObjectType);
  const rapidjson::Value& inj = d.HasMember("injection") ? d["injection"] : empty;
  s->injection = !inj.HasMember("enabled") || inj["enabled"].GetBool();
  if (inj.HasMember("deny_score")) s->deny_score = inj["deny_score"].GetDouble();
  if (inj.HasMember("flag_score")) s->flag_score = inj["flag_score"].GetDouble();
  if (s->flag_score > s->deny_score) throw std::runtime_error("injection.flag_score is above deny_score");
  if (inj.HasMember("roles")) s->roles = strings(inj["roles"]);
  if (s->injection) s->scanner = std::make_unique<InjectionScanner>(injectionRules(inj));
  if (d.HasMember("judge")) {
    if (!s->injection) throw std::runtime_error("judge needs injection scoring enabled");
    readJudge(d["judge"], &s->judge);
  }

  const rapidjson::Value& ref = d.HasMember("refusal") ? d["refusal"] : empty;
  if (ref.HasMember("action")) s->refusal = actionOf(ref["action"]);
  if (ref.HasMember("window_bytes")) s->refusal_window_bytes = ref["window_bytes"].GetUint64();
  std::vector<std::string> phrases;
  if (!ref.HasMember("builtin_phrases") || ref["builtin_phrases"].GetBool()) phrases = builtinRefusalPhrases();
  if (ref.HasMember("phrases")) {
    for (std::string& p : strings(ref["phrases"])) phrases.push_back(std::move(p));
  }
  if (s->refusal != Action::kOff && !phrases.empty()) s->refusal_phrases = PhraseMatcher({{"refusal", phrases}});

  if (d.HasMember("empty_answer")) s->empty_answer = actionOf(d["empty_answer"]);
  if (d.HasMember("max_answer_chars")) s->max_answer_chars = d["max_answer_chars"].GetUint64();
  if (d.HasMember("on_max_answer")) s->on_max_answer = actionOf(d["on_max_answer"]);
  if (d.HasMember("banned_topics")) readTopics(d["banned_topics"], s.get());
  return s;
}

}  // namespace outrigger::content
