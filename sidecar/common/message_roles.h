// The message roles the daemon takes: the wire schema's, and OpenAI's legacy "function".
#pragma once

#include <string_view>

namespace outrigger {

// A provider maps a role it does not know to one it does (Anthropic's: "user"), so every way text
// enters a conversation (a caller's request on either front, a guardrail's REWRITE or re-ask, a
// plugin's call to a route) refuses another role rather than give it a meaning nobody asked for.
inline bool knownMessageRole(std::string_view role) {
  for (std::string_view known : {"system", "developer", "user", "assistant", "tool", "function"}) {
    if (role == known) return true;
  }
  return false;
}

inline constexpr char kKnownMessageRoles[] = "system, developer, user, assistant, tool, function";

}  // namespace outrigger
