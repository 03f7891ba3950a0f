// What guardrail.json checks in one answer, apart from the plugin ABI: the rules a request
// implies (its response_format, its declared tools, the configured schema), the check of an
// answer's text and tool calls against them, and the repair prompt that quotes what failed.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "schema_check.h"

namespace outrigger::jsonguard {

struct ToolRule {
  std::string name;
  std::shared_ptr<const CompiledSchema> parameters;  // null: any JSON object
};

// What an answer to one request must be.
struct AnswerRules {
  bool json_content = false;                          // the text must be a JSON value
  bool object_content = false;                        // ... and an object (response_format json_object)
  std::shared_ptr<const CompiledSchema> content_schema;  // ... matching this, when set
  std::string schema_name;                            // the caller's name for it, for the repair prompt
  bool check_tools = false;                           // tool calls must name declared tools
  std::vector<ToolRule> tools;
  std::string tool_choice;                            // "", "auto", "none", "required" or a tool's name
  bool tool_choice_is_name = false;                   // a name even when it reads like a mode

  // From the wire's tool_choice: a mode, a tool's name, or OpenAI's object form naming a tool
  // (how a tool named like a mode travels).
  void setToolChoice(std::string_view wire);
  bool toolChoiceIsMode(std::string_view mode) const { return !tool_choice_is_name && tool_choice == mode; }
  // The one tool the answer must call; empty when the choice is a mode or absent.
  std::string_view forcedTool() const;

  // True when a streamed answer must be held back until it is checked.
  bool holdsStream() const { return json_content || !tools.empty(); }
};

struct ToolCallSeen {
  std::string_view name;
  std::string_view arguments;
};

struct CheckSettings {
  bool strip = true;        // take the JSON value out of code fences and prose
  size_t max_errors = 8;    // errors kept for the reason and the repair prompt
};

struct Finding {
  bool ok = true;
  std::vector<std::string> errors;  // readable, most specific first; at most max_errors
  bool stripped = false;            // the value was surrounded: `json` is what the client should get
  std::string json;                 // the value's text, when stripped
  bool incomplete = false;          // the text ended inside a JSON value
  bool tool_problem = false;        // an error is about a tool call (not fixable in a held stream)
};

// Checks an answer's text and tool calls. An answer with tool calls is checked on its calls only
// (the text beside them is commentary); one without is checked on its text.
Finding checkAnswer(const AnswerRules& rules, std::string_view content, const std::vector<ToolCallSeen>& calls,
                    const CheckSettings& settings);

// "a; b; c": the errors on one line, for a verdict reason or an error message.
std::string joinErrors(const std::vector<std::string>& errors);

// The repair prompt: `repair_template` with "{errors}" replaced by the errors as a list, and
// "{schema}" by the schema's name. `previous`, when not empty, is quoted too (the answer the
// host could not pass back itself: it was held back from a stream), cut to `max_quote` bytes.
std::string repairPrompt(std::string_view repair_template, const AnswerRules& rules, const Finding& finding,
                         std::string_view previous, size_t max_quote);

// The default repair prompt.
extern const char kDefaultRepairPrompt[];
// What is asked when an answer was cut off at max_tokens and on_truncated = "continue".
extern const char kContinuationPrompt[];

}  // namespace outrigger::jsonguard
