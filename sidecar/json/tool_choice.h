// The wire's Params.tool_choice, read and written in one place: a mode ("auto", "none",
// "required"), the name of the one function to call, or OpenAI's object form
// {"type":"function","function":{"name":...}} (JSON, starting with "{"). The object form names a
// function even when the name reads like a mode or starts with "{": the HTTP fronts write it for
// exactly those names, and the providers and guardrail.json read it.
//
// Header-only, beside bounded_json.h, so the daemon and the built-in plugins share it.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>

namespace outrigger::json {

inline bool isToolChoiceMode(std::string_view s) { return s == "auto" || s == "none" || s == "required"; }

inline bool isToolChoiceObject(std::string_view s) { return !s.empty() && s.front() == '{'; }

// The wire text that forces the function `name`: the name itself, or the object form when the
// bare name would read as something else.
inline std::string toolChoiceForcing(std::string_view name) {
  if (!isToolChoiceMode(name) && !isToolChoiceObject(name)) return std::string(name);
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("type");
  w.String("function");
  w.Key("function");
  w.StartObject();
  w.Key("name");
  w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  w.EndObject();
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

// The function a parsed object form names: OpenAI's function.name, else a top-level name
// (Anthropic's shape); empty when it names none.
inline std::string_view toolChoiceObjectName(const rapidjson::Value& choice) {
  auto nameIn = [](const rapidjson::Value& v) -> std::string_view {
    if (!v.IsObject()) return {};
    auto name = v.FindMember("name");
    if (name == v.MemberEnd() || !name->value.IsString()) return {};
    return {name->value.GetString(), name->value.GetStringLength()};
  };
  if (!choice.IsObject()) return {};
  if (auto fn = choice.FindMember("function"); fn != choice.MemberEnd() && !nameIn(fn->value).empty()) return nameIn(fn->value);
  return nameIn(choice);
}

}  // namespace outrigger::json
