#include "eval/eval_file.h"

#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "common/file_text.h"
#include "eval/toml_table_reader.h"

namespace outrigger::eval {

namespace {

bool readScorer(const toml::table& t, const EvalConfig& cfg, ScorerConfig* s, std::string* error) {
  TableReader r(t, cfg.path, error);
  if (!r.onlyKeys({"type", "name", "threshold", "value", "pattern", "ignore_case", "schema", "schema_file", "max_ms",
                   "max_usd", "route", "rubric", "command", "timeout_ms", "gate", "min_agreement", "labels", "tags", "path",
                   "config"},
                  "[[scorers]]")) {
    return false;
  }
  r.text("type", &s->type);
  s->name = s->type;
  r.text("name", &s->name);
  r.number("threshold", &s->threshold);
  r.text("value", &s->value);
  r.text("pattern", &s->pattern);
  r.flag("ignore_case", &s->ignore_case);
  r.text("schema", &s->schema_json);
  r.number("max_ms", &s->max_ms);
  r.number("max_usd", &s->max_usd);
  r.text("route", &s->route);
  r.text("rubric", &s->rubric);
  r.strings("command", &s->command);
  r.count("timeout_ms", &s->timeout_ms, 1, 3600000);
  r.flag("gate", &s->gate);
  r.number("min_agreement", &s->min_agreement);
  r.text("labels", &s->labels);
  r.strings("tags", &s->tags);
  r.text("path", &s->plugin_path);
  s->plugin_path = resolvePath(cfg, s->plugin_path);
  if (const toml::node* config = t.get("config"); config && r.ok()) {
    // A table reaches the plugin as JSON text, which it can parse with any JSON library.
    if (const toml::table* table = config->as_table()) {
      std::ostringstream json;
      json << toml::json_formatter{*table, toml::format_flags::none};
      s->plugin_config = json.str();
    } else {
      r.text("config", &s->plugin_config);
    }
  }
  std::string schema_file;
  r.text("schema_file", &schema_file);
  if (r.ok() && s->type.empty()) r.fail(t, "a scorer needs a type");
  if (r.ok() && !schema_file.empty() && !readFileText(resolvePath(cfg, schema_file), &s->schema_json)) {
    r.fail(*t.get("schema_file"), "cannot read schema_file " + schema_file);
  }
  s->working_dir = cfg.dir;
  return r.ok();
}

bool readTarget(const toml::table& t, const EvalConfig& cfg, TargetConfig* target, std::string* error) {
  TableReader r(t, cfg.path, error);
  if (!r.onlyKeys({"name", "route", "extra"}, "[[targets]]")) return false;
  r.text("route", &target->route);
  target->name = target->route;
  r.text("name", &target->name);
  r.text("extra", &target->extra_json);
  if (r.ok() && target->route.empty()) r.fail(t, "a target needs a route");
  return r.ok();
}

// Each entry of the array of tables `key`, read by `read`; at least one is required.
template <class T, class Read>
bool readList(const toml::table& root, const char* key, EvalConfig* cfg, std::vector<T>* into, Read read, std::string* error) {
  return readTables(root, key, cfg->path, true, [&](const toml::table& t) {
    T item;
    if (!read(t, *cfg, &item, error)) return false;
    into->push_back(std::move(item));
    return true;
  }, error);
}

}  // namespace

std::string resolvePath(const EvalConfig& cfg, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return cfg.dir.empty() ? path : cfg.dir + "/" + path;
}

bool readEvalFile(const std::string& path, EvalConfig* cfg, std::string* error) {
  toml::table root;
  if (!parseTomlFile(path, &root, error)) return false;
  cfg->path = path;
  splitPath(path, &cfg->dir, &cfg->name);
  TableReader r(root, path, error);
  if (!r.onlyKeys({"name", "dataset", "socket", "concurrency", "timeout_ms", "retries", "retry_backoff_ms",
                   "min_pass_rate", "judge_cache", "embeddings_url", "targets", "scorers"},
                  "the eval file")) {
    return false;
  }
  r.text("name", &cfg->name);
  r.text("dataset", &cfg->dataset);
  r.text("socket", &cfg->socket);
  r.count("concurrency", &cfg->concurrency, 1, kMaxConcurrency);
  r.count("timeout_ms", &cfg->timeout_ms, 0, 3600000);
  r.count("retries", &cfg->retries, 0, 10);
  r.count("retry_backoff_ms", &cfg->retry_backoff_ms, 0, 60000);
  r.number("min_pass_rate", &cfg->min_pass_rate);
  r.text("judge_cache", &cfg->judge_cache);
  r.text("embeddings_url", &cfg->embeddings_url);
  if (!r.ok()) return false;
  cfg->judge_cache = resolvePath(*cfg, cfg->judge_cache.empty() ? ".outrigger-judge-cache.sqlite" : cfg->judge_cache);
  if (cfg->dataset.empty()) {
    *error = path + ": no dataset";
    return false;
  }
  if (!readList(root, "targets", cfg, &cfg->targets, readTarget, error)) return false;
  // Results and baselines are kept by target name: two targets of one name would be compared
  // with one baseline, and the gate would pass the regression of either.
  std::set<std::string> names;
  for (const TargetConfig& t : cfg->targets) {
    if (!names.insert(t.name).second) {
      *error = path + ": two [[targets]] are named '" + t.name +
               "' (a target is named after its route unless it has a name): give each its own name";
      return false;
    }
  }
  return readList(root, "scorers", cfg, &cfg->scorers, readScorer, error);
}

}  // namespace outrigger::eval
