// The wire's tool_choice for a request that forces one function. The wire carries a mode
// ("auto", "none", "required"), a function's name as a bare string, or OpenAI's object form (a
// string starting with "{"), so a function named like a mode, or starting with "{", travels in
// the object form, which every provider and the JSON guardrail read as that function. Other names
// stay bare, as SDK callers send them.
#pragma once

#include <string>
#include <string_view>

namespace outrigger::http {

std::string forcedToolChoice(std::string_view function_name);

}  // namespace outrigger::http
