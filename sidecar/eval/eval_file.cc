#include "eval/eval_file.h"

#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace outrigger::eval {

namespace {

// Reads one table's keys: refuses keys it does not know and values of the wrong type, naming
// the file and line. The first error sticks; later reads are no-ops.
class TableReader {
 public:
  TableReader(const toml::table& t, const std::string& file, std::string* error) : t_(t), file_(file), error_(error) {}

  bool onlyKeys(const std::set<std::string>& known, const std::string& section) {
    for (const auto& [key, node] : t_) {
      if (!known.count(std::string(key.str()))) fail(node, "unknown key '" + std::string(key.str()) + "' in " + section);
    }
    return ok_;
  }
  template <class T>
  void get(const char* key, T* into, const char* type_name) {
    const toml::node* n = t_.get(key);
    if (!ok_ || !n) return;
    if (auto v = n->value<T>()) *into = *v;
    else fail(*n, std::string("'") + key + "' must be " + type_name);
  }
  void text(const char* key, std::string* into) { get(key, into, "a string"); }
  void flag(const char* key, bool* into) { get(key, into, "true or false"); }
  void number(const char* key, double* into) { get(key, into, "a number"); }
  // An integer within [lo, hi].
  void count(const char* key, uint32_t* into, int64_t lo, int64_t hi) {
    int64_t v = *into;
    get(key, &v, "an integer");
    if (ok_ && (v < lo || v > hi)) fail(*t_.get(key), std::string("'") + key + "' must be " + std::to_string(lo) + ".." + std::to_string(hi));
    if (ok_) *into = static_cast<uint32_t>(v);
  }
  void strings(const char* key, std::vector<std::string>* into) {
    const toml::node* n = t_.get(key);
    if (!ok_ || !n) return;
    const toml::array* a = n->as_array();
    if (!a) return fail(*n, std::string("'") + key + "' must be an array of strings");
    for (const auto& e : *a) {
      if (!e.is_string()) return fail(e, std::string("'") + key + "' must be an array of strings");
      into->push_back(*e.value<std::string>());
    }
  }
  void fail(const toml::node& n, const std::string& why) {
    if (!ok_) return;
    ok_ = false;
    *error_ = file_ + ":" + std::to_string(n.source().begin.line) + ": " + why;
  }
  bool ok() const { return ok_; }

 private:
  const toml::table& t_;
  const std::string& file_;
  std::string* error_;
  bool ok_ = true;
};

bool readFile(const std::string& path, std::string* into) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  *into = text.str();
  return static_cast<bool>(in);
}

bool readScorer(const toml::table& t, const EvalConfig& cfg, ScorerConfig* s, std::string* error) {
  TableReader r(t, cfg.path, error);
  if (!r.onlyKeys({"type", "name", "threshold", "value", "pattern", "ignore_case", "schema", "schema_file", "max_ms",
                   "max_usd", "route", "rubric", "command", "timeout_ms", "gate", "min_agreement", "labels", "tags"},
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
  std::string schema_file;
  r.text("schema_file", &schema_file);
  if (r.ok() && s->type.empty()) r.fail(t, "a scorer needs a type");
  if (r.ok() && !schema_file.empty() && !readFile(resolvePath(cfg, schema_file), &s->schema_json)) {
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
  const toml::array* list = root[key].as_array();
  if (!list || list->empty()) {
    *error = cfg->path + ": no [[" + key + "]]";
    return false;
  }
  for (const auto& node : *list) {
    const toml::table* t = node.as_table();
    T item;
    if (!t) {
      *error = cfg->path + ":" + std::to_string(node.source().begin.line) + ": [[" + key + "]] entries must be tables";
      return false;
    }
    if (!read(*t, *cfg, &item, error)) return false;
    into->push_back(std::move(item));
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
  cfg->name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  TableReader r(root, path, error);
  if (!r.onlyKeys({"name", "dataset", "socket", "concurrency", "timeout_ms", "retries", "retry_backoff_ms",
                   "min_pass_rate", "judge_cache", "embeddings_url", "targets", "scorers"},
                  "the eval file")) {
    return false;
  }
  r.text("name", &cfg->name);
  r.text("dataset", &cfg->dataset);
  r.text("socket", &cfg->socket);
  r.count("concurrency", &cfg->concurrency, 1, 256);
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
  return readList(root, "targets", cfg, &cfg->targets, readTarget, error) &&
         readList(root, "scorers", cfg, &cfg->scorers, readScorer, error);
}

}  // namespace outrigger::eval
