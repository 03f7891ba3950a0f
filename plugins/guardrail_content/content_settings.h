// guardrail.content's configuration: its JSON Schema and the parsed settings, with the rule and
// phrase sets compiled (so a bad pattern fails the config check, not a request).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "injection_rules.h"
#include "phrase_lists.h"

namespace outrigger::content {

extern const char kConfigSchema[];

enum class Action { kOff, kFlag, kDeny };

struct BannedTopic {
  std::string name;
  Action action = Action::kDeny;
  bool on_request = true, on_answer = true;
};

struct JudgeSettings {
  std::string route;  // empty: no judge
  bool always = false;  // false: only prompts the rules flag but do not deny
  std::string rubric;
  uint32_t timeout_ms = 0;
  size_t cache_entries = 10000;
  uint32_t cache_ttl_s = 3600;
  Action on_error = Action::kDeny;  // fail closed by default
  size_t max_chars = 8000;
};

struct ContentSettings {
  // Injection and jailbreak scoring on the request.
  bool injection = true;
  double deny_score = 0.8, flag_score = 0.5;
  std::vector<std::string> roles = {"user", "tool"};
  std::unique_ptr<InjectionScanner> scanner;
  JudgeSettings judge;

  // The answer.
  Action refusal = Action::kFlag;
  size_t refusal_window_bytes = 200;
  PhraseMatcher refusal_phrases;
  Action empty_answer = Action::kFlag;
  size_t max_answer_chars = 0;  // 0: no limit
  Action on_max_answer = Action::kDeny;

  // Banned topics, by side; group i of each matcher is topics[i] of that side.
  std::vector<BannedTopic> request_topics, answer_topics;
  PhraseMatcher request_phrases, answer_phrases;

  bool scansRole(std::string_view role) const;
};

// Throws std::runtime_error with a message naming the bad key.
std::unique_ptr<ContentSettings> parseSettings(std::string_view config_json);

const char* actionName(Action a);

}  // namespace outrigger::content
