#include "answer_check.h"

#include "bounded_json.h"
#include "json_extract.h"
#include "tool_choice.h"

namespace outrigger::jsonguard {

void AnswerRules::setToolChoice(std::string_view wire) {
  tool_choice.assign(wire);
  tool_choice_is_name = false;
  if (!json::isToolChoiceObject(wire)) return;
  rapidjson::Document d;
  tool_choice.clear();  // an object naming no tool constrains nothing
  if (!json::parse(wire, &d)) return;
  tool_choice.assign(json::toolChoiceObjectName(d));
  tool_choice_is_name = !tool_choice.empty();
}

std::string_view AnswerRules::forcedTool() const {
  if (tool_choice.empty()) return {};
  if (!tool_choice_is_name && json::isToolChoiceMode(tool_choice)) return {};
  return tool_choice;
}

const char kDefaultRepairPrompt[] =
    "Your previous answer was not accepted:\n{errors}\n"
    "Answer again with only the corrected result: a single JSON value{schema}, with no code fences "
    "and no other text. Call only the functions you were given, with arguments that match their parameters.";

const char kContinuationPrompt[] =
    "Your previous answer was cut off. Continue exactly where it stopped: do not repeat anything, "
    "and do not add anything before the continuation.";

namespace {

void addError(Finding* f, const CheckSettings& s, std::string error) {
  f->ok = false;
  if (f->errors.size() < s.max_errors) f->errors.push_back(std::move(error));
}

std::string declaredNames(const AnswerRules& rules) {
  if (rules.tools.empty()) return "none were declared";
  std::string names = "declared: ";
  for (size_t i = 0; i < rules.tools.size(); ++i) names += (i ? ", " : "") + rules.tools[i].name;
  return names;
}

const ToolRule* toolNamed(const AnswerRules& rules, std::string_view name) {
  for (const ToolRule& t : rules.tools) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

void checkCall(const AnswerRules& rules, size_t index, const ToolCallSeen& call, const CheckSettings& s, Finding* f) {
  const std::string where = "tool call " + std::to_string(index) + " (" + std::string(call.name) + ")";
  const ToolRule* tool = toolNamed(rules, call.name);
  if (!tool) {
    f->tool_problem = true;
    return addError(f, s, where + ": there is no function named \"" + std::string(call.name) + "\" (" +
                              declaredNames(rules) + ")");
  }
  std::string_view forced = rules.forcedTool();
  if (!forced.empty() && forced != call.name) {
    f->tool_problem = true;
    return addError(f, s, where + ": tool_choice asked for \"" + std::string(forced) + "\"");
  }
  rapidjson::Document args;
  json::ParseResult parsed = json::parse<rapidjson::kParseValidateEncodingFlag>(call.arguments, &args);
  if (!parsed) {
    f->tool_problem = true;
    return addError(f, s, where + ": the arguments are not JSON: " + parsed.reason());
  }
  if (!args.IsObject()) {
    f->tool_problem = true;
    return addError(f, s, where + ": the arguments are not a JSON object");
  }
  if (!tool->parameters) return;
  std::vector<std::string> errors;
  if (validate(*tool->parameters, args, s.max_errors, &errors)) return;
  f->tool_problem = true;
  for (std::string& e : errors) addError(f, s, where + " arguments " + e);
}

void checkContent(const AnswerRules& rules, std::string_view content, const CheckSettings& s, Finding* f) {
  Extracted value = extractJson(content, s.strip);
  if (!value.found) {
    f->incomplete = value.incomplete;
    return addError(f, s, "the answer is not JSON: " + value.error);
  }
  if (value.surrounded) {
    f->stripped = true;
    f->json.assign(value.json);
  }
  if (rules.object_content && !value.doc.IsObject()) return addError(f, s, "/: the answer must be a JSON object");
  if (!rules.content_schema) return;
  std::vector<std::string> errors;
  if (validate(*rules.content_schema, value.doc, s.max_errors, &errors)) return;
  for (std::string& e : errors) addError(f, s, std::move(e));
}

}  // namespace

Finding checkAnswer(const AnswerRules& rules, std::string_view content, const std::vector<ToolCallSeen>& calls,
                    const CheckSettings& settings) {
  Finding f;
  if (!calls.empty()) {
    if (!rules.check_tools) return f;
    if (rules.toolChoiceIsMode("none")) {
      f.tool_problem = true;
      addError(&f, settings, "tool_choice was \"none\", yet the answer calls " + std::to_string(calls.size()) + " function(s)");
      return f;
    }
    for (size_t i = 0; i < calls.size(); ++i) checkCall(rules, i, calls[i], settings, &f);
    return f;
  }
  // "required", or the name of the one tool to call: either way the answer must call one.
  if (rules.check_tools && !rules.tools.empty() && (rules.toolChoiceIsMode("required") || !rules.forcedTool().empty())) {
    f.tool_problem = true;
    addError(&f, settings, "tool_choice was \"" + rules.tool_choice + "\", yet the answer calls no function");
    return f;
  }
  if (rules.json_content) checkContent(rules, content, settings, &f);
  return f;
}

std::string joinErrors(const std::vector<std::string>& errors) {
  std::string out;
  for (size_t i = 0; i < errors.size(); ++i) out += (i ? "; " : "") + errors[i];
  return out;
}

namespace {

void replaceAll(std::string* s, std::string_view from, std::string_view to) {
  for (size_t at = s->find(from); at != std::string::npos; at = s->find(from, at + to.size())) s->replace(at, from.size(), to);
}

// At most `max` bytes of `text`, cut between UTF-8 code points.
std::string_view cut(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

}  // namespace

std::string repairPrompt(std::string_view repair_template, const AnswerRules& rules, const Finding& finding,
                         std::string_view previous, size_t max_quote) {
  std::string list;
  for (const std::string& e : finding.errors) list += "- " + e + "\n";
  if (!list.empty()) list.pop_back();
  std::string prompt(repair_template);
  replaceAll(&prompt, "{schema}", rules.schema_name.empty() ? "" : " matching the schema \"" + rules.schema_name + "\"");
  replaceAll(&prompt, "{errors}", list);
  if (!previous.empty()) {
    std::string_view quoted = cut(previous, max_quote);
    prompt += "\n\nYour previous answer was:\n" + std::string(quoted) + (quoted.size() < previous.size() ? "\n[...]" : "");
  }
  return prompt;
}

}  // namespace outrigger::jsonguard
