// Prompt-injection and jailbreak rules: parsed from TOML (the built-in set in
// injection_rules.toml, or a user's), compiled into one Vectorscan database (PCRE syntax,
// case-insensitive, every rule in one pass), scored per text.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text_signals.h"

struct hs_database;
struct hs_scratch;

namespace outrigger::content {

struct Rule {
  std::string name;
  std::string category;
  double score = 0;  // 0 < score <= 1
  std::string pattern;
};

// The rules of a TOML document's [[rule]] array; throws std::runtime_error naming the bad one.
std::vector<Rule> parseRules(std::string_view toml_text, std::string_view origin);
// The built-in set, compiled into the plugin from injection_rules.toml.
std::string_view builtinRulesText();

struct Finding {
  std::string rule;      // a rule's name, or a signal's: hidden-characters, tag-characters, ...
  std::string category;
  double score = 0;
  bool in_hidden_text = false;  // found in tag-character text or a decoded block
};

struct Assessment {
  double score = 0;  // 1 - product of (1 - each distinct finding's score)
  std::vector<Finding> findings;
  std::string error;  // the rule engine failed (out of memory): the caller fails closed
  // "0.93: ignore-previous-instructions (override), tag-characters (hidden)"
  std::string summary() const;
};

// Not thread-safe (it owns the scan's scratch space): one per worker, as plugin instances are.
class InjectionScanner {
 public:
  // Throws std::runtime_error when a pattern does not compile.
  explicit InjectionScanner(std::vector<Rule> rules);
  ~InjectionScanner();
  InjectionScanner(const InjectionScanner&) = delete;
  InjectionScanner& operator=(const InjectionScanner&) = delete;
  Assessment assess(std::string_view text) const;
  size_t ruleCount() const { return rules_.size(); }

 private:
  bool matchInto(std::string_view text, bool hidden, std::vector<bool>* seen, Assessment* out) const;

  std::vector<Rule> rules_;
  hs_database* database_ = nullptr;
  hs_scratch* scratch_ = nullptr;
};

}  // namespace outrigger::content
