#include "eval/eval_file.h"

#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace outrigger::eval {

namespace {

std::string where(const toml::node& n) {
  const auto& src = n.source();
  return std::to_string(src.begin.line);
}

// Refuses keys outside `known`, naming the line.
bool onlyKnownKeys(const toml::table& t, const std::set<std::string>& known, const std::string& section,
                   const std::string& file, std::string* error) {
  for (const auto& [key, node] : t) {
    if (!known.count(std::string(key.str()))) {
      *error = file + ":" + where(node) + ": unknown key '" + std::string(key.str()) + "' in " + section;
      return false;
    }
  }
  return true;
}

template <class T>
void take(const toml::table& t, const char* key, T* into) {
  if (auto v = t[key].value<T>()) *into = *v;
}

bool readScorer(const toml::table& t, const EvalConfig& cfg, ScorerConfig* s, std::string* error) {
  static const std::set<std::string> known{"type", "name", "threshold", "value", "pattern", "ignore_case", "schema",
                                           "schema_file", "max_ms", "max_usd", "route", "rubric", "command",
                                           "timeout_ms", "gate", "min_agreement", "labels", "tags"};
  if (!onlyKnownKeys(t, known, "[[scorers]]", cfg.path, error)) return false;
  take(t, "type", &s->type);
  s->name = s->type;
  take(t, "name", &s->name);
  take(t, "threshold", &s->threshold);
  take(t, "value", &s->value);
  take(t, "pattern", &s->pattern);
  take(t, "ignore_case", &s->ignore_case);
  take(t, "schema", &s->schema_json);
  take(t, "max_ms", &s->max_ms);
  take(t, "max_usd", &s->max_usd);
  take(t, "route", &s->route);
  take(t, "rubric", &s->rubric);
  int64_t timeout = s->timeout_ms;
  take(t, "timeout_ms", &timeout);
  s->timeout_ms = static_cast<uint32_t>(timeout);
  take(t, "gate", &s->gate);
  take(t, "min_agreement", &s->min_agreement);
  take(t, "labels", &s->labels);
  s->working_dir = cfg.dir;
  if (auto* tags = t["tags"].as_array()) {
    for (const auto& tag : *tags) s->tags.push_back(tag.value_or(std::string()));
  }
  if (auto* cmd = t["command"].as_array()) {
    for (const auto& part : *cmd) s->command.push_back(part.value_or(std::string()));
  }
  if (std::string file; (take(t, "schema_file", &file), !file.empty())) {
    std::ifstream in(resolvePath(cfg, file));
    if (!in) {
      *error = cfg.path + ": cannot read schema_file " + file;
      return false;
    }
    std::stringstream text;
    text << in.rdbuf();
    s->schema_json = text.str();
  }
  if (s->type.empty()) {
    *error = cfg.path + ":" + where(t) + ": a scorer needs a type";
    return false;
  }
  return true;
}

bool readTargets(const toml::table& root, EvalConfig* cfg, std::string* error) {
  auto* list = root["targets"].as_array();
  if (!list || list->empty()) {
    *error = cfg->path + ": no [[targets]]";
    return false;
  }
  for (const auto& node : *list) {
    const auto* t = node.as_table();
    if (!t || !onlyKnownKeys(*t, {"name", "route", "extra"}, "[[targets]]", cfg->path, error)) return false;
    TargetConfig target;
    take(*t, "route", &target.route);
    target.name = target.route;
    take(*t, "name", &target.name);
    take(*t, "extra", &target.extra_json);
    if (target.route.empty()) {
      *error = cfg->path + ":" + where(*t) + ": a target needs a route";
      return false;
    }
    cfg->targets.push_back(std::move(target));
  }
  return true;
}

}  // namespace

std::string resolvePath(const EvalConfig& cfg, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return cfg.dir.empty() ? path : cfg.dir + "/" + path;
}

bool readEvalFile(const std::string& path, EvalConfig* cfg, std::string* error) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    *error = path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
    return false;
  }
  cfg->path = path;
  size_t slash = path.rfind('/');
  cfg->dir = slash == std::string::npos ? "" : path.substr(0, slash);
  static const std::set<std::string> known{"name", "dataset", "socket", "concurrency", "timeout_ms", "retries",
                                           "retry_backoff_ms", "min_pass_rate", "judge_cache", "embeddings_url",
                                           "targets", "scorers"};
  if (!onlyKnownKeys(root, known, "the eval file", path, error)) return false;
  cfg->name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  take(root, "name", &cfg->name);
  take(root, "dataset", &cfg->dataset);
  take(root, "socket", &cfg->socket);
  int64_t n = cfg->concurrency, timeout = cfg->timeout_ms, retries = cfg->retries, backoff = cfg->retry_backoff_ms;
  take(root, "concurrency", &n);
  take(root, "timeout_ms", &timeout);
  take(root, "retries", &retries);
  take(root, "retry_backoff_ms", &backoff);
  if (n < 1 || n > 256 || timeout < 0 || retries < 0 || retries > 10 || backoff < 0) {
    *error = path + ": concurrency must be 1..256, retries 0..10, timeouts not negative";
    return false;
  }
  cfg->concurrency = static_cast<uint32_t>(n);
  cfg->timeout_ms = static_cast<uint32_t>(timeout);
  cfg->retries = static_cast<uint32_t>(retries);
  cfg->retry_backoff_ms = static_cast<uint32_t>(backoff);
  take(root, "min_pass_rate", &cfg->min_pass_rate);
  take(root, "judge_cache", &cfg->judge_cache);
  cfg->judge_cache = cfg->judge_cache.empty() ? resolvePath(*cfg, ".outrigger-judge-cache.sqlite") : resolvePath(*cfg, cfg->judge_cache);
  take(root, "embeddings_url", &cfg->embeddings_url);
  if (cfg->dataset.empty()) {
    *error = path + ": no dataset";
    return false;
  }
  if (!readTargets(root, cfg, error)) return false;
  if (auto* list = root["scorers"].as_array()) {
    for (const auto& node : *list) {
      ScorerConfig s;
      if (!node.as_table() || !readScorer(*node.as_table(), *cfg, &s, error)) return false;
      cfg->scorers.push_back(std::move(s));
    }
  }
  if (cfg->scorers.empty()) {
    *error = path + ": no [[scorers]]";
    return false;
  }
  return true;
}

}  // namespace outrigger::eval
