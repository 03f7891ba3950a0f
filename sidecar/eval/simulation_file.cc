#include "eval/simulation_file.h"

#include "eval/toml_table_reader.h"

#include <set>

namespace outrigger::eval {

namespace {

std::string resolved(const SimulationConfig& cfg, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return cfg.dir.empty() ? path : cfg.dir + "/" + path;
}

bool readPersonaRoute(const toml::table& t, const std::string& file, PersonaRouteConfig* p, std::string* error) {
  TableReader r(t, file, error);
  if (!r.onlyKeys({"route", "temperature", "seed", "max_tokens", "extra"}, "[persona]")) return false;
  r.text("route", &p->route);
  r.number("temperature", &p->temperature);
  r.get("seed", &p->seed, "an integer");
  r.count("max_tokens", &p->max_tokens, 0, 1000000);
  r.text("extra", &p->extra_json);
  if (r.ok() && p->route.empty()) r.fail(t, "[persona] needs the route that plays the user");
  return r.ok();
}

bool readJudge(const toml::table& t, const std::string& file, SimJudgeConfig* j, std::string* error) {
  TableReader r(t, file, error);
  if (!r.onlyKeys({"route", "policy", "threshold"}, "[judge]")) return false;
  r.text("route", &j->route);
  r.text("policy", &j->policy);
  r.number("threshold", &j->threshold);
  if (r.ok() && j->route.empty()) r.fail(t, "[judge] needs a route: every transcript is judged");
  return r.ok();
}

bool readTarget(const toml::table& t, const std::string& file, SimTargetConfig* s, std::string* error) {
  TableReader r(t, file, error);
  if (!r.onlyKeys({"name", "route", "extra", "system"}, "[[targets]]")) return false;
  r.text("route", &s->target.route);
  s->target.name = s->target.route;
  r.text("name", &s->target.name);
  r.text("extra", &s->target.extra_json);
  r.text("system", &s->system);
  if (r.ok() && s->target.route.empty()) r.fail(t, "a target needs a route");
  return r.ok();
}

bool readScenario(const toml::table& t, const SimulationConfig& cfg, ScenarioConfig* s, std::string* error) {
  TableReader r(t, cfg.path, error);
  if (!r.onlyKeys({"name", "goal", "opening", "personas", "max_turns", "stop_phrase", "stop_when_goal_met", "success",
                   "expect_denial"},
                  "[[scenarios]]")) {
    return false;
  }
  r.text("name", &s->name);
  r.text("goal", &s->goal);
  r.text("opening", &s->opening);
  r.strings("personas", &s->personas);
  r.count("max_turns", &s->max_turns, 1, 100);
  r.text("stop_phrase", &s->stop_phrase);
  r.flag("stop_when_goal_met", &s->stop_when_goal_met);
  r.text("success", &s->success);
  if (t.get("expect_denial")) {
    bool expect = false;
    r.flag("expect_denial", &expect);
    s->expect_denial = expect;
  }
  if (r.ok() && s->name.empty()) r.fail(t, "a scenario needs a name");
  if (r.ok() && s->goal.empty()) r.fail(t, "scenario " + s->name + " needs a goal");
  if (r.ok() && s->stop_phrase.empty()) r.fail(t, "scenario " + s->name + ": stop_phrase cannot be empty");
  if (s->personas.empty()) s->personas = defaultPersonas();
  std::set<std::string> named;
  for (const auto& p : s->personas) {
    if (r.ok() && !cfg.personas.personas.count(p)) r.fail(t, "scenario " + s->name + ": no persona named '" + p + "'");
    // A transcript's id is scenario/persona: twice, two transcripts would pair with one baseline.
    if (r.ok() && !named.insert(p).second) r.fail(t, "scenario " + s->name + ": persona '" + p + "' is named twice");
  }
  return r.ok();
}

bool readUserPersona(const toml::table& t, const std::string& file, PersonaSet* set, std::string* error) {
  TableReader r(t, file, error);
  Persona p;
  if (!r.onlyKeys({"name", "description", "prompt"}, "[[personas]]")) return false;
  r.text("name", &p.name);
  r.text("description", &p.description);
  r.text("prompt", &p.prompt);
  if (r.ok() && (p.name.empty() || p.prompt.empty())) r.fail(t, "a persona needs a name and a prompt");
  if (r.ok()) set->personas[p.name] = std::move(p);
  return r.ok();
}

bool readHeader(const toml::table& root, SimulationConfig* cfg, std::string* error) {
  TableReader r(root, cfg->path, error);
  if (!r.onlyKeys({"name", "socket", "concurrency", "timeout_ms", "retries", "retry_backoff_ms", "min_pass_rate",
                   "judge_cache", "on_target_error", "persona", "judge", "targets", "scenarios", "personas"},
                  "the simulation file")) {
    return false;
  }
  r.text("name", &cfg->name);
  r.text("socket", &cfg->socket);
  r.count("concurrency", &cfg->concurrency, 1, 256);
  r.count("timeout_ms", &cfg->timeout_ms, 0, 3600000);
  r.count("retries", &cfg->retries, 0, 10);
  r.count("retry_backoff_ms", &cfg->retry_backoff_ms, 0, 60000);
  r.number("min_pass_rate", &cfg->min_pass_rate);
  r.text("judge_cache", &cfg->judge_cache);
  std::string on_error = "error";
  r.text("on_target_error", &on_error);
  if (r.ok() && on_error != "error" && on_error != "fail") {
    r.fail(*root.get("on_target_error"), "'on_target_error' must be \"error\" or \"fail\"");
  }
  cfg->target_errors_fail = on_error == "fail";
  return r.ok();
}

// A required single table `key`, read by `read`.
template <class Read>
bool readSection(const toml::table& root, const char* key, const std::string& file, Read read, std::string* error) {
  const toml::table* t = root[key].as_table();
  if (!t) {
    *error = file + ": no [" + key + "] table";
    return false;
  }
  return read(*t);
}

}  // namespace

bool readSimulationFile(const std::string& path, SimulationConfig* cfg, std::string* error) {
  toml::table root;
  if (!parseTomlFile(path, &root, error)) return false;
  cfg->path = path;
  splitPath(path, &cfg->dir, &cfg->name);
  if (!readPersonas(builtInPersonasText(), "eval/personas.toml", &cfg->personas, error) || !readHeader(root, cfg, error)) return false;
  cfg->judge_cache = resolved(*cfg, cfg->judge_cache.empty() ? ".outrigger-judge-cache.sqlite" : cfg->judge_cache);
  const std::string& file = cfg->path;
  auto target = [&](const toml::table& t) {
    SimTargetConfig item;
    if (!readTarget(t, file, &item, error)) return false;
    for (const SimTargetConfig& other : cfg->targets) {  // results and baselines are kept by name
      if (other.target.name == item.target.name) {
        *error = file + ":" + std::to_string(t.source().begin.line) + ": two [[targets]] are named '" + item.target.name +
                 "' (a target is named after its route unless it has a name): give each its own name";
        return false;
      }
    }
    cfg->targets.push_back(std::move(item));
    return true;
  };
  auto scenario = [&](const toml::table& t) {
    ScenarioConfig item;
    if (!readScenario(t, *cfg, &item, error)) return false;
    for (const auto& other : cfg->scenarios) {
      // Transcripts are named "<scenario>/<persona>", and baselines pair them by that name.
      if (other.name != item.name) continue;
      *error = file + ":" + std::to_string(t.source().begin.line) + ": a second scenario named '" + item.name + "'";
      return false;
    }
    cfg->scenarios.push_back(std::move(item));
    return true;
  };
  auto persona_route = [&](const toml::table& t) { return readPersonaRoute(t, file, &cfg->persona, error); };
  auto judge = [&](const toml::table& t) { return readJudge(t, file, &cfg->judge, error); };
  auto persona = [&](const toml::table& t) { return readUserPersona(t, file, &cfg->personas, error); };
  // The personas before the scenarios, which name them.
  return readSection(root, "persona", file, persona_route, error) && readSection(root, "judge", file, judge, error) &&
         readTables(root, "personas", file, false, persona, error) && readTables(root, "targets", file, true, target, error) &&
         readTables(root, "scenarios", file, true, scenario, error);
}

}  // namespace outrigger::eval
