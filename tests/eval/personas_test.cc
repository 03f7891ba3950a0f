// The built-in personas (sidecar/eval/personas.toml, compiled in) and the frame that wraps them.
#include <catch2/catch.hpp>

#include "eval/personas.h"
#include "eval/simulation_file.h"

using namespace outrigger::eval;

TEST_CASE("simulate personas: the five built-in personas are compiled in and the frame gives the persona, goal and stop phrase") {
  PersonaSet set;
  std::string error;
  REQUIRE(readPersonas(builtInPersonasText(), "personas.toml", &set, &error));
  for (const auto& name : defaultPersonas()) {
    INFO(name);
    REQUIRE(set.personas.count(name) == 1);
    CHECK(set.personas[name].prompt.size() > 200);
    CHECK_FALSE(set.personas[name].description.empty());
  }
  std::string prompt = personaSystemPrompt(set, set.personas["hostile"], "Get a refund.", "[DONE]");
  CHECK(prompt.find(set.personas["hostile"].prompt) != std::string::npos);
  CHECK(prompt.find("Get a refund.") != std::string::npos);
  CHECK(prompt.find("[DONE]") != std::string::npos);
  CHECK(prompt.find("{{") == std::string::npos);
}

TEST_CASE("simulate personas: a persona without a prompt or with an unknown key is refused with its line") {
  PersonaSet set;
  std::string error;
  CHECK_FALSE(readPersonas("frame = \"x\"\n[quiet]\ndescription = \"says little\"\n", "p.toml", &set, &error));
  CHECK(error == "p.toml:2: persona quiet needs a prompt");
  CHECK_FALSE(readPersonas("[loud]\nprompt = \"shouts\"\nvolume = 11\n", "p.toml", &set, &error));
  CHECK(error.find("p.toml:3: unknown key 'volume'") == 0);
}
