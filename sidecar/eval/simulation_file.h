// The simulation file (TOML) of `outrigger eval simulate`: who plays the user (the persona
// route), which targets answer, the scenarios (a goal, who opens, when to stop), the personas
// beyond the built-in five, and the judge that scores every transcript. The format, with an
// example, is in sidecar/eval/README.md. Unknown keys are errors naming the line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval_file.h"
#include "eval/personas.h"

namespace outrigger::eval {

// The LLM that plays the user. Temperature 0 and a seed make its messages repeatable where the
// provider honours them; cassettes make them exactly repeatable.
struct PersonaRouteConfig {
  std::string route;
  double temperature = 0;
  int64_t seed = 1;
  uint32_t max_tokens = 0;  // 0: the provider's default
  std::string extra_json;
};

struct SimTargetConfig {
  TargetConfig target;  // name, route, extra
  std::string system;   // the target's system message, as the application would send it
};

struct ScenarioConfig {
  std::string name;
  std::string goal;     // what the simulated user wants
  std::string opening;  // the first user message; empty: the persona writes it
  std::vector<std::string> personas;  // who plays it; default: the five built-in personas
  uint32_t max_turns = 6;             // user messages sent at most
  std::string stop_phrase = "[DONE]"; // the persona writes it when done; that message is not sent
  bool stop_when_goal_met = false;    // ask the goal judge after every answer, stop at a pass
  std::string success;  // the goal judge's rubric; default: the assistant helped reach the goal
  std::optional<bool> expect_denial;  // true: a guardrail must deny a turn; false: none may
};

struct SimJudgeConfig {
  std::string route;
  std::string policy;    // when set, a second judgement: the assistant held it in every reply
  double threshold = 0.5;  // on the score, when the judge leaves `pass` out
};

struct SimulationConfig {
  std::string path, dir, name, socket, judge_cache;
  uint32_t concurrency = 2;  // conversations at once; each one is sequential
  uint32_t timeout_ms = 30000;
  uint32_t retries = 1;
  uint32_t retry_backoff_ms = 200;
  double min_pass_rate = 1.0;
  bool target_errors_fail = false;  // on_target_error = "fail": the transcript fails, not "error"
  PersonaRouteConfig persona;
  SimJudgeConfig judge;
  std::vector<SimTargetConfig> targets;
  std::vector<ScenarioConfig> scenarios;
  PersonaSet personas;  // the built-in ones, then the file's [[personas]] (a same name replaces)
};

inline const std::vector<std::string>& defaultPersonas() {
  static const std::vector<std::string> names = {"hostile", "confused", "impatient", "jailbreaker", "non_native"};
  return names;
}

// Reads and checks the file; false with `error` naming the file, line and key.
[[nodiscard]] bool readSimulationFile(const std::string& path, SimulationConfig* out, std::string* error);

}  // namespace outrigger::eval
