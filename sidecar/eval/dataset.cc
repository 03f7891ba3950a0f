#include "eval/dataset.h"

#include <fstream>
#include <set>

#include "bounded_json.h"
#include "eval/json_text.h"

namespace outrigger::eval {

const char* caseStatusName(CaseStatus s) {
  switch (s) {
    case CaseStatus::kPass: return "pass";
    case CaseStatus::kFail: return "fail";
    case CaseStatus::kError: return "error";
  }
  return "error";
}

bool renderTemplate(const std::string& tmpl, const std::map<std::string, std::string>& vars, std::string* out,
                    std::string* error) {
  out->clear();
  size_t at = 0;
  while (true) {
    size_t open = tmpl.find("{{", at);
    if (open == std::string::npos) break;
    size_t close = tmpl.find("}}", open + 2);
    if (close == std::string::npos) break;
    std::string name = tmpl.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    auto it = vars.find(name);
    if (it == vars.end()) {
      *error = "the prompt uses {{" + name + "}} but vars has no '" + name + "'";
      return false;
    }
    out->append(tmpl, at, open - at);
    out->append(it->second);
    at = close + 2;
  }
  out->append(tmpl, at, std::string::npos);
  return true;
}

namespace {

// A var's value as text: strings as they are, anything else as its JSON.
std::string varText(const rapidjson::Value& v) { return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : toJson(v); }

// A message's tool calls: {id, type, name, arguments} as `eval capture` writes them, or OpenAI's
// {id, type, function: {name, arguments}}; arguments that are not a string are taken as JSON text.
std::vector<client::ToolCall> toolCallsOf(const rapidjson::Value& m) {
  std::vector<client::ToolCall> out;
  auto list = m.FindMember("tool_calls");
  if (list == m.MemberEnd() || !list->value.IsArray()) return out;
  for (const auto& c : list->value.GetArray()) {
    if (!c.IsObject()) continue;
    auto fn = c.FindMember("function");
    const rapidjson::Value& named = fn != c.MemberEnd() && fn->value.IsObject() ? fn->value : c;
    auto args = named.FindMember("arguments");
    std::string type = stringMember(c, "type");
    out.push_back({stringMember(c, "id"), type.empty() ? "function" : type, stringMember(named, "name"),
                   args == named.MemberEnd() ? "" : varText(args->value)});
  }
  return out;
}

bool readMessages(const rapidjson::Value& list, EvalCase* out, std::string* error) {
  if (!list.IsArray() || list.Empty()) {
    *error = "messages must be a non-empty array";
    return false;
  }
  for (const auto& m : list.GetArray()) {
    if (!m.IsObject() || stringMember(m, "role").empty()) {
      *error = "each message needs a role and content";
      return false;
    }
    out->messages.push_back({stringMember(m, "role"), stringMember(m, "content"), stringMember(m, "name"),
                             stringMember(m, "tool_call_id"), toolCallsOf(m)});
  }
  return true;
}

bool readPrompt(const rapidjson::Value& c, EvalCase* out, std::string* error) {
  std::map<std::string, std::string> vars;
  if (c.HasMember("vars")) {
    if (!c["vars"].IsObject()) {
      *error = "vars must be an object";
      return false;
    }
    for (const auto& m : c["vars"].GetObject()) vars[m.name.GetString()] = varText(m.value);
  }
  std::string text;
  if (!renderTemplate(stringMember(c, "prompt"), vars, &text, error)) return false;
  if (std::string system = stringMember(c, "system"); !system.empty()) out->messages.push_back({"system", system, "", "", {}});
  out->messages.push_back({"user", text, "", "", {}});
  return true;
}

std::string jsonMember(const rapidjson::Value& c, const char* key) {
  auto it = c.FindMember(key);
  return it == c.MemberEnd() || it->value.IsNull() ? "" : toJson(it->value);
}

const std::set<std::string>& knownKeys() {
  static const std::set<std::string> keys{"id", "messages", "prompt", "vars", "system", "expected", "reference", "ideal",
                                          "expected_tool_calls", "tags", "metadata", "tools", "response_format", "extra"};
  return keys;
}

}  // namespace

bool parseCase(const std::string& line, size_t line_no, EvalCase* out, std::string* error) {
  rapidjson::Document c;
  if (auto r = json::parse(line, &c); !r) {
    *error = "not JSON: " + r.reason();
    return false;
  }
  if (!c.IsObject()) {
    *error = "a case must be a JSON object";
    return false;
  }
  for (const auto& m : c.GetObject()) {
    if (!knownKeys().count(m.name.GetString())) {
      *error = std::string("unknown key '") + m.name.GetString() + "'";
      return false;
    }
  }
  out->id = c.HasMember("id") ? varText(c["id"]) : "line-" + std::to_string(line_no);
  if (c.HasMember("messages") == c.HasMember("prompt")) {
    *error = "a case needs either messages or prompt";
    return false;
  }
  if (!(c.HasMember("messages") ? readMessages(c["messages"], out, error) : readPrompt(c, out, error))) return false;
  for (const char* key : {"expected", "reference", "ideal"}) {
    if (c.HasMember(key)) out->expected = varText(c[key]);
  }
  if (c.HasMember("tags") && c["tags"].IsArray()) {
    for (const auto& t : c["tags"].GetArray()) out->tags.push_back(varText(t));
  }
  if (c.HasMember("metadata") && c["metadata"].IsObject()) {
    for (const auto& m : c["metadata"].GetObject()) out->metadata[m.name.GetString()] = varText(m.value);
  }
  out->tools_json = jsonMember(c, "tools");
  out->response_format_json = jsonMember(c, "response_format");
  out->expected_tool_calls_json = jsonMember(c, "expected_tool_calls");
  out->extra_json = jsonMember(c, "extra");
  if (!out->extra_json.empty() && !c["extra"].IsObject()) {
    *error = "extra must be a JSON object";
    return false;
  }
  out->line_json = line;
  return true;
}

bool readDataset(const std::string& path, std::vector<EvalCase>* cases, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read the dataset " + path;
    return false;
  }
  std::string line;
  std::set<std::string> ids;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[line.find_first_not_of(" \t")] == '#') continue;
    EvalCase c;
    std::string why;
    if (!parseCase(line, n, &c, &why)) {
      *error = path + ":" + std::to_string(n) + ": " + why;
      return false;
    }
    if (!ids.insert(c.id).second) {
      *error = path + ":" + std::to_string(n) + ": the id '" + c.id + "' is used twice";
      return false;
    }
    cases->push_back(std::move(c));
  }
  if (cases->empty()) {
    *error = "the dataset " + path + " has no cases";
    return false;
  }
  return true;
}

}  // namespace outrigger::eval
