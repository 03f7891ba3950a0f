// The users `outrigger eval simulate` has an LLM play: five built-in personas (hostile,
// confused, impatient, jailbreaker, non_native), kept as data in eval/personas.toml and compiled
// in, plus those a simulation file defines. Every persona is wrapped in one frame that tells the
// persona route it is the user, what it wants, and how to end the conversation.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace outrigger::eval {

struct Persona {
  std::string name;
  std::string description;  // one line, for reports
  std::string prompt;       // who the user is and how they behave
};

struct PersonaSet {
  std::string frame;  // with {{persona}}, {{goal}} and {{stop_phrase}}
  std::map<std::string, Persona> personas;
};

// The text of eval/personas.toml (personas.cc, generated at build time).
std::string_view builtInPersonasText();

// Reads a personas TOML (the built-in one's format: `frame`, then one table per persona with
// `description` and `prompt`); false with `error` naming the line of a bad entry.
[[nodiscard]] bool readPersonas(std::string_view toml_text, const std::string& source, PersonaSet* out, std::string* error);

// The persona route's system message for `persona` pursuing `goal`.
std::string personaSystemPrompt(const PersonaSet& set, const Persona& persona, const std::string& goal,
                                const std::string& stop_phrase);

}  // namespace outrigger::eval
