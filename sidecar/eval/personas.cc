#include "eval/personas.h"

#include "eval/dataset.h"
#include "eval/toml_table_reader.h"

namespace outrigger::eval {

namespace {

std::string trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

bool readPersonas(std::string_view toml_text, const std::string& source, PersonaSet* out, std::string* error) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    *error = source + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
    return false;
  }
  for (const auto& [key, node] : root) {
    std::string name(key.str());
    if (name == "frame") {
      if (!node.is_string()) return *error = source + ": 'frame' must be a string", false;
      out->frame = trimmed(*node.value<std::string>());
      continue;
    }
    const toml::table* t = node.as_table();
    if (!t) return *error = source + ":" + std::to_string(node.source().begin.line) + ": '" + name + "' must be a persona table", false;
    Persona p;
    p.name = name;
    TableReader r(*t, source, error);
    if (!r.onlyKeys({"description", "prompt"}, "persona " + name)) return false;
    r.text("description", &p.description);
    r.text("prompt", &p.prompt);
    if (r.ok() && trimmed(p.prompt).empty()) r.fail(*t, "persona " + name + " needs a prompt");
    if (!r.ok()) return false;
    p.prompt = trimmed(p.prompt);
    out->personas[name] = std::move(p);
  }
  return true;
}

std::string personaSystemPrompt(const PersonaSet& set, const Persona& persona, const std::string& goal,
                                const std::string& stop_phrase) {
  std::string text, error;
  // The frame is ours and names only these three, so rendering cannot fail.
  if (!renderTemplate(set.frame, {{"persona", persona.prompt}, {"goal", goal}, {"stop_phrase", stop_phrase}}, &text, &error)) {
    return persona.prompt + "\n\nYour goal: " + goal;
  }
  return text;
}

}  // namespace outrigger::eval
