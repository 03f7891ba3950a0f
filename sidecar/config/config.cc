#include "config/config_parser.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace outrigger::config {
namespace detail {

void Parser::checkKeys(const toml::table& t, const std::set<std::string>& allowed, const std::string& ctx) const {
  for (auto&& [k, v] : t) {
    if (!allowed.count(std::string(k.str()))) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw ParseError(source_ + ":" + std::to_string(k.source().begin.line) + ": unknown key '" +
                       std::string(k.str()) + "' in " + ctx + " (expected one of: " + list + ")");
    }
  }
}

// `${VAR}` is the environment's VAR; `$${` is a literal `${` (a deny list may need `${jndi:`).
std::string Parser::substitute(const toml::node& n, std::string_view text) const {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = text.find('$', i);
    if (start == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, start - i));
    if (text.substr(start, 3) == "$${") {
      out.append("${");
      i = start + 3;
      continue;
    }
    if (text.substr(start, 2) != "${") {
      out.push_back('$');
      i = start + 1;
      continue;
    }
    size_t end = text.find('}', start);
    if (end == std::string_view::npos) fail(n, "unterminated ${ in string (write $${ for a literal ${)");
    std::string var(text.substr(start + 2, end - start - 2));
    const char* value = std::getenv(var.c_str());
    if (!value) fail(n, "environment variable " + var + " is not set");
    out.append(value);
    i = end + 1;
  }
  return out;
}

std::string Parser::str(const toml::node& n, const std::string& key) const {
  if (!n.is_string()) fail(n, "'" + key + "' must be a string");
  return substitute(n, *n.value<std::string_view>());
}

uint64_t Parser::uint(const toml::node& n, const std::string& key, uint64_t max, uint64_t min) const {
  if (!n.is_integer()) fail(n, "'" + key + "' must be an integer");
  int64_t v = *n.value<int64_t>();
  if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
    fail(n, "'" + key + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return static_cast<uint64_t>(v);
}

std::vector<std::string> Parser::strList(const toml::node& n, const std::string& key) const {
  const toml::array* a = n.as_array();
  if (!a) fail(n, "'" + key + "' must be an array of strings");
  std::vector<std::string> out;
  for (const toml::node& e : *a) out.push_back(str(e, key));
  return out;
}

bool Parser::boolean(const toml::node& n, const std::string& key) const {
  if (!n.is_boolean()) fail(n, "'" + key + "' must be true or false");
  return *n.value<bool>();
}

void Parser::toJson(const toml::node& n, const std::string& pointer, rapidjson::Writer<rapidjson::StringBuffer>* w,
                    std::map<std::string, std::string>* lines, size_t depth) const {
  // Dotted keys inside nested inline tables multiply: each bounded, together deep enough to
  // overflow the stack here. Plugins read no config nested past the JSON check's 128 levels.
  if (depth > kMaxConfigDepth) fail(n, "config nested deeper than " + std::to_string(kMaxConfigDepth) + " levels");
  (*lines)[pointer] = where(n);
  if (const toml::table* t = n.as_table()) {
    w->StartObject();
    for (auto&& [k, v] : *t) {
      w->Key(k.str().data(), static_cast<rapidjson::SizeType>(k.str().size()));
      toJson(v, pointer + "/" + std::string(k.str()), w, lines, depth + 1);
    }
    w->EndObject();
  } else if (const toml::array* a = n.as_array()) {
    w->StartArray();
    size_t i = 0;
    for (const toml::node& e : *a) toJson(e, pointer + "/" + std::to_string(i++), w, lines, depth + 1);
    w->EndArray();
  } else if (n.is_string()) {
    std::string s = substitute(n, *n.value<std::string_view>());
    w->String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  } else if (n.is_integer()) {
    w->Int64(*n.value<int64_t>());
  } else if (n.is_floating_point()) {
    double v = *n.value<double>();
    if (!std::isfinite(v)) fail(n, "nan and inf are not numbers JSON can carry");
    w->Double(v);
  } else if (n.is_boolean()) {
    w->Bool(*n.value<bool>());
  } else {
    fail(n, "dates and times are not supported in plugin config");
  }
}

InstanceSettings Parser::instance(const std::string& name, const toml::table& t) const {
  checkKeys(t, {"type", "on_error", "config"}, "[instances." + name + "]");
  InstanceSettings s;
  s.name = name;
  s.where = where(t);
  const toml::node* type = t.get("type");
  if (!type) fail(t, "[instances." + name + "] needs 'type', e.g. \"provider.mock\"");
  std::string full = str(*type, "type");
  size_t dot = full.find('.');
  if (dot == std::string::npos) fail(*type, "'type' must be <kind>.<name>, e.g. \"provider.mock\"");
  s.kind = full.substr(0, dot);
  s.type = full.substr(dot + 1);
  if (s.kind != "provider" && s.kind != "guardrail" && s.kind != "cache" && s.kind != "exporter" &&
      s.kind != "limiter") {
    fail(*type, "unknown plugin kind '" + s.kind + "' (provider, guardrail, limiter, cache, exporter)");
  }
  // A type names a library file (guardrail.pii: guardrail_pii.so): nothing that could reach
  // outside the plugin folders.
  if (s.type.empty() || s.type.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                            std::string::npos) {
    fail(*type, "'type' " + full + ": a plugin type is letters, digits, '_', '.' and '-'");
  }
  // What guards, limits or answers fails closed by default; a cache or an exporter is skipped.
  s.on_error = s.kind == "guardrail" || s.kind == "provider" || s.kind == "limiter" ? OnError::kDeny : OnError::kSkip;
  if (const toml::node* oe = t.get("on_error")) {
    std::string v = str(*oe, "on_error");
    if (v == "deny") s.on_error = OnError::kDeny;
    else if (v == "skip") s.on_error = OnError::kSkip;
    else fail(*oe, "'on_error' must be \"deny\" or \"skip\"");
    // A request cannot go on without its provider's answer: skip would read as a promise the
    // chain does not keep (a failure the provider reports through its done falls back instead).
    if (s.on_error == OnError::kSkip && s.kind == "provider") {
      fail(*oe, "'on_error' cannot be \"skip\" for a provider: a request has no answer without it; give the route "
                "another target to fall back to");
    }
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  if (const toml::node* cfg = t.get("config")) {
    if (!cfg->is_table()) fail(*cfg, "'config' must be a table");
    toJson(*cfg, "", &w, &s.lines);
  } else {
    w.StartObject();
    w.EndObject();
    s.lines[""] = s.where;
  }
  s.config_json = buf.GetString();
  return s;
}

// The routes a route's plugins may call as model calls (`calls`) exist, and no route reaches
// itself through them: a judge that calls its own route would recurse until the deadline.
static void checkCalls(const std::vector<RouteSettings>& routes) {
  std::map<std::string, const RouteSettings*> by_name;
  for (const RouteSettings& r : routes) by_name[r.name] = &r;
  for (const RouteSettings& r : routes) {
    for (const std::string& callee : r.calls) {
      if (!by_name.count(callee)) {
        throw ParseError(r.where + ": route '" + r.name + "' calls unknown route '" + callee + "'");
      }
    }
  }
  // Depth-first from each route with an explicit stack (a config may chain any number of
  // routes); a route met again on the current path is a cycle.
  std::map<std::string, int> state;  // 1: on the path, 2: done
  struct Frame {
    const RouteSettings* route;
    size_t next;  // the next of its calls to follow
  };
  for (const RouteSettings& start : routes) {
    if (state[start.name] != 0) continue;
    std::vector<Frame> path{{&start, 0}};
    state[start.name] = 1;
    while (!path.empty()) {
      Frame& top = path.back();
      if (top.next == top.route->calls.size()) {
        state[top.route->name] = 2;
        path.pop_back();
        continue;
      }
      const std::string& callee = top.route->calls[top.next++];
      if (state[callee] == 1) {
        std::string cycle;
        bool on = false;
        for (const Frame& f : path) {
          on = on || f.route->name == callee;
          if (on) cycle += f.route->name + " -> ";
        }
        throw ParseError(by_name[callee]->where + ": routes call each other in a cycle: " + cycle + callee);
      }
      if (state[callee] == 0) {
        state[callee] = 1;
        path.push_back({by_name[callee], 0});
      }
    }
  }
}

// `tenant_rpm` / `tenant_tpm` on a route: an instance of the default limiter (limiter.memory,
// keyed by tenant) that the route's admission asks first, like any limiter it names.
void addTenantLimiter(RouteSettings* r, std::vector<InstanceSettings>* instances) {
  if (!r->tenant_rpm && !r->tenant_tpm) return;
  std::string name = r->name + ".tenant_limits";
  for (const InstanceSettings& i : *instances) {
    if (i.name == name) {
      throw ParseError(i.where + ": instance name '" + name + "' is taken by route '" + r->name + "''s tenant limits");
    }
  }
  std::string config = "{\"key\":\"tenant\",\"rpm\":" + std::to_string(r->tenant_rpm) +
                       ",\"tpm\":" + std::to_string(r->tenant_tpm) + "}";
  instances->push_back({name, "limiter", "memory", config, OnError::kDeny, r->where, {}});
  r->limiters.insert(r->limiters.begin(), name);
}

RouteSettings Parser::route(const std::string& name, const toml::table& t) const {
  const std::string ctx = "[routes." + name + "]";
  checkKeys(t, {"provider", "model", "guardrails", "limiters", "cache", "exporters", "calls", "targets", "strategy",
                "retry", "breaker",
                "tenant_rpm", "tenant_tpm", "limits", "hedge", "fallback_answer", "cache_replay_chunk_bytes",
                "max_reasks", "max_held_bytes", "max_answer_bytes", "capture", "capture_denied", "internal"},
            ctx);
  RouteSettings r;
  r.name = name;
  r.where = where(t);
  auto sub = [&](const toml::node& v, const std::string& key) -> const toml::table& {
    if (!v.is_table()) fail(v, "'" + key + "' in " + ctx + " must be a table");
    return *v.as_table();
  };
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (key == "provider") r.provider = str(v, key);
    else if (key == "model") r.model = str(v, key);
    else if (key == "cache") r.caches = v.is_string() ? std::vector<std::string>{str(v, key)} : strList(v, key);
    else if (key == "cache_replay_chunk_bytes") {
      r.cache_replay_chunk_bytes = static_cast<uint32_t>(uint(v, key, 1u << 20, 1));
    }
    else if (key == "max_reasks") r.max_reasks = static_cast<uint32_t>(uint(v, key, 10));
    else if (key == "internal") r.internal = boolean(v, key);
    else if (key == "max_held_bytes") {
      r.max_held_bytes = static_cast<uint32_t>(uint(v, key, 16u << 20, 1));
    }
    else if (key == "max_answer_bytes") {
      r.max_answer_bytes = static_cast<uint32_t>(uint(v, key, 1u << 30, 1024));
    }
    else if (key == "capture") {
      std::string c = str(v, key);
      if (c == "none") r.capture = Capture::kNone;
      else if (c == "metadata") r.capture = Capture::kMetadata;
      else if (c == "full") r.capture = Capture::kFull;
      else fail(v, "'capture' in " + ctx + " must be \"none\", \"metadata\" or \"full\"");
    }
    else if (key == "capture_denied") {
      std::string c = str(v, key);
      if (c == "shape") r.capture_denied_prompts = false;
      else if (c == "full") r.capture_denied_prompts = true;
      else fail(v, "'capture_denied' in " + ctx + " must be \"shape\" or \"full\"");
    }
    else if (key == "guardrails") r.guardrails = strList(v, key);
    else if (key == "limiters") r.limiters = strList(v, key);
    else if (key == "calls") r.calls = strList(v, key);
    else if (key == "exporters") r.exporters = strList(v, key);
    else if (key == "tenant_rpm") r.tenant_rpm = static_cast<uint32_t>(uint(v, key, 100000000));
    else if (key == "tenant_tpm") r.tenant_tpm = static_cast<uint32_t>(uint(v, key, 4000000000u));
    else if (key == "strategy") {
      std::string st = str(v, key);
      if (st == "fallback") r.policy.strategy = resilience::Strategy::kFallback;
      else if (st == "weighted") r.policy.strategy = resilience::Strategy::kWeighted;
      else if (st == "lowest_latency") r.policy.strategy = resilience::Strategy::kLowestLatency;
      else fail(v, "'strategy' in " + ctx + " must be \"fallback\", \"weighted\" or \"lowest_latency\"");
    } else if (key == "targets") {
      const toml::array* a = v.as_array();
      if (!a || a->empty()) fail(v, "'targets' in " + ctx + " must be a non-empty array of tables");
      for (const toml::node& e : *a) r.targets.push_back(target(e, ctx));
    } else if (key == "retry") {
      retry(sub(v, key), ctx + ".retry", &r.policy.retry);
    } else if (key == "breaker") {
      breaker(sub(v, key), ctx + ".breaker", &r.policy.breaker);
    } else if (key == "limits") {
      limits(sub(v, key), ctx + ".limits", &r.policy.limits);
    } else if (key == "hedge") {
      hedge(sub(v, key), ctx + ".hedge", &r.policy.hedge);
    } else if (key == "fallback_answer") {
      r.fallback_answer = fallbackAnswer(v, ctx);
    }
  }
  if (!r.provider.empty() && !r.targets.empty()) fail(t, ctx + " sets both 'provider' and 'targets'; use one");
  if (r.provider.empty() && r.targets.empty()) fail(t, ctx + " needs 'provider' or 'targets'");
  if (r.targets.empty()) r.targets.push_back({r.provider, "", 1, 0, 0, 0, r.where});
  r.provider = r.targets[0].provider;
  return r;
}

TargetSettings Parser::target(const toml::node& n, const std::string& ctx) const {
  if (!n.is_table()) fail(n, "each of 'targets' in " + ctx + " must be a table {provider = ..., model = ...}");
  const toml::table& t = *n.as_table();
  checkKeys(t, {"provider", "model", "weight", "max_concurrent", "rpm", "tpm"}, ctx + ".targets");
  TargetSettings s;
  s.where = where(n);
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (key == "provider") s.provider = str(v, key);
    else if (key == "model") s.model = str(v, key);
    else if (key == "weight") s.weight = static_cast<uint32_t>(uint(v, key, 1000000));
    else if (key == "max_concurrent") s.max_concurrent = static_cast<uint32_t>(uint(v, key, 1000000));
    else if (key == "rpm") s.rpm = static_cast<uint32_t>(uint(v, key, 100000000));
    else if (key == "tpm") s.tpm = static_cast<uint32_t>(uint(v, key, 4000000000u));
  }
  if (s.provider.empty()) fail(n, "a target in " + ctx + " needs 'provider'");
  return s;
}

void Parser::retry(const toml::table& t, const std::string& ctx, resilience::RetryPolicy* p) const {
  checkKeys(t, {"max_attempts", "base_backoff_ms", "max_backoff_ms", "max_retry_after_ms", "min_attempt_ms",
                "budget_percent"}, ctx);
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    uint32_t n = static_cast<uint32_t>(uint(v, key, 3600000));
    if (key == "max_attempts") {
      if (n < 1 || n > 10) fail(v, "'max_attempts' in " + ctx + " must be between 1 and 10");
      p->max_attempts = n;
    } else if (key == "base_backoff_ms") p->base_backoff_ms = n;
    else if (key == "max_backoff_ms") p->max_backoff_ms = n;
    else if (key == "max_retry_after_ms") p->max_retry_after_ms = n;
    else if (key == "min_attempt_ms") p->min_attempt_ms = n;
    else if (key == "budget_percent") {
      if (n > 1000) fail(v, "'budget_percent' in " + ctx + " must be between 0 and 1000");
      p->budget_ratio = n / 100.0;
    }
  }
  if (p->max_backoff_ms < p->base_backoff_ms) fail(t, ctx + ": 'max_backoff_ms' is below 'base_backoff_ms'");
}

void Parser::breaker(const toml::table& t, const std::string& ctx, resilience::BreakerPolicy* p) const {
  checkKeys(t, {"failure_threshold", "open_ms", "error_rate_percent", "window"}, ctx);
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (key == "failure_threshold") p->failure_threshold = static_cast<uint32_t>(uint(v, key, 1000000));
    else if (key == "open_ms") p->open_ms = static_cast<uint32_t>(uint(v, key, 3600000));
    else if (key == "error_rate_percent") p->error_rate_percent = static_cast<uint32_t>(uint(v, key, 100));
    else if (key == "window") {
      p->window = static_cast<uint32_t>(uint(v, key, 10000, 1));
    }
  }
}

void Parser::limits(const toml::table& t, const std::string& ctx, resilience::LimitPolicy* p) const {
  checkKeys(t, {"on_limit", "queue_max", "queue_timeout_ms"}, ctx);
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (key == "on_limit") {
      std::string mode = str(v, key);
      if (mode == "queue") p->queue = true;
      else if (mode == "fail") p->queue = false;
      else fail(v, "'on_limit' in " + ctx + " must be \"fail\" or \"queue\"");
    } else if (key == "queue_max") {
      p->queue_max = static_cast<uint32_t>(uint(v, key, 1000000, 1));
    } else if (key == "queue_timeout_ms") {
      p->queue_timeout_ms = static_cast<uint32_t>(uint(v, key, 3600000));
    }
  }
}

void Parser::hedge(const toml::table& t, const std::string& ctx, resilience::HedgePolicy* p) const {
  checkKeys(t, {"delay_ms"}, ctx);
  const toml::node* d = t.get("delay_ms");
  if (!d) fail(t, ctx + " needs 'delay_ms'");
  p->delay_ms = static_cast<uint32_t>(uint(*d, "delay_ms", 3600000, 1));
}

// A string is the answer's text; a table is written as JSON text (an answer in a structured form).
std::string Parser::fallbackAnswer(const toml::node& n, const std::string& ctx) const {
  if (n.is_string()) return str(n, "fallback_answer");
  if (!n.is_table()) fail(n, "'fallback_answer' in " + ctx + " must be a string or a table (served as JSON)");
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  std::map<std::string, std::string> lines;
  toJson(n, "", &w, &lines);
  return std::string(buf.GetString(), buf.GetSize());
}

Settings Parser::run(const toml::table& root) {
  checkKeys(root, {"server", "http", "admin", "plugins", "exporter", "instances", "routes", "default_route", "prices",
                   "metrics", "alerts"},
            "the top level");
  Settings s;
  s.source = source_;
  auto table = [&](const char* key) -> const toml::table* {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(*n, std::string("'") + key + "' must be a table");
    return n->as_table();
  };
  if (const toml::table* t = table("server")) server(*t, &s.server);
  if (const toml::table* t = table("http")) http(*t, &s.http);
  if (const toml::table* t = table("admin")) admin(*t, &s.admin);
  if (const toml::table* t = table("prices")) prices(*t, &s.prices);
  if (const toml::table* t = table("metrics")) metrics(*t, &s.metrics);
  if (const toml::table* t = table("alerts")) alerts(*t, &s.alerts);
  if (const toml::table* t = table("plugins")) {
    checkKeys(*t, {"dirs"}, "[plugins]");
    if (const toml::node* d = t->get("dirs")) {
      for (std::string dir : strList(*d, "dirs")) {
        if (!dir.empty() && dir[0] != '/') dir = base_dir_ + "/" + dir;
        s.plugin_dirs.push_back(dir);
      }
    }
  }
  if (const toml::table* t = table("exporter")) {
    checkKeys(*t, {"queue_capacity", "queue_max_bytes", "priority"}, "[exporter]");
    if (const toml::node* p = t->get("priority")) {
      s.exporter_priority = str(*p, "priority");
      if (s.exporter_priority != "idle" && s.exporter_priority != "low" && s.exporter_priority != "normal") {
        fail(*p, "'priority' must be \"idle\", \"low\" or \"normal\"");
      }
    }
    if (const toml::node* q = t->get("queue_capacity")) {
      s.exporter_queue_capacity = static_cast<uint32_t>(uint(*q, "queue_capacity", 1u << 24, 1));
    }
    if (const toml::node* q = t->get("queue_max_bytes")) {
      s.exporter_queue_max_bytes = uint(*q, "queue_max_bytes", 1ull << 40, 1u << 20);
    }
  }
  std::map<std::string, const InstanceSettings*> by_name;
  if (const toml::table* t = table("instances")) {
    for (auto&& [k, v] : *t) {
      if (!v.is_table()) fail(v, "[instances." + std::string(k.str()) + "] must be a table");
      s.instances.push_back(instance(std::string(k.str()), *v.as_table()));
    }
  }
  if (const toml::table* t = table("routes")) {
    for (auto&& [k, v] : *t) {
      if (!v.is_table()) fail(v, "[routes." + std::string(k.str()) + "] must be a table");
      s.routes.push_back(route(std::string(k.str()), *v.as_table()));
    }
  }
  for (RouteSettings& r : s.routes) addTenantLimiter(&r, &s.instances);
  for (const AlertRuleSettings& a : s.alerts.rules) {
    if (a.kind == "cost" && a.by == "tenant" && !s.metrics.tenant_label) {
      throw ParseError(a.where + ": a cost rule by tenant needs [metrics] tenant_label = true (the series carry no tenant otherwise)");
    }
    bool known = a.route.empty() || std::any_of(s.routes.begin(), s.routes.end(), [&](const RouteSettings& r) { return r.name == a.route; });
    if (!known) throw ParseError(a.where + ": alert rule '" + a.name + "' names route '" + a.route + "', which does not exist");
  }
  for (const auto& i : s.instances) by_name[i.name] = &i;
  // References: every name a route uses exists and has the right kind.
  for (const RouteSettings& r : s.routes) {
    auto check = [&](const std::string& name, const char* kind) {
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        throw ParseError(r.where + ": route '" + r.name + "' uses unknown instance '" + name + "'");
      }
      if (it->second->kind != kind) {
        throw ParseError(r.where + ": route '" + r.name + "' uses '" + name + "' as a " + kind +
                         ", but it is a " + it->second->kind);
      }
    };
    for (const auto& target : r.targets) check(target.provider, "provider");
    for (const auto& c : r.caches) check(c, "cache");
    for (const auto& g : r.guardrails) check(g, "guardrail");
    for (const auto& l : r.limiters) check(l, "limiter");
    for (const auto& e : r.exporters) check(e, "exporter");
    for (size_t i = 0; i < r.exporters.size(); ++i) {  // named twice, every record would be written twice
      if (std::find(r.exporters.begin(), r.exporters.begin() + static_cast<std::ptrdiff_t>(i), r.exporters[i]) !=
          r.exporters.begin() + static_cast<std::ptrdiff_t>(i)) {
        throw ParseError(r.where + ": route '" + r.name + "' names exporter '" + r.exporters[i] + "' twice");
      }
    }
  }
  checkCalls(s.routes);
  if (const toml::node* d = root.get("default_route")) {
    s.default_route = str(*d, "default_route");
    bool found = false;
    for (const auto& r : s.routes) found = found || r.name == s.default_route;
    if (!found) fail(*d, "default_route '" + s.default_route + "' is not a route");
  } else if (s.routes.size() == 1) {
    s.default_route = s.routes[0].name;
  }
  for (const RouteSettings& r : s.routes) {
    if (r.internal && r.name == s.default_route) {
      throw ParseError(r.where + ": route '" + r.name + "' is internal and cannot be the default route, which callers reach");
    }
  }
  if (s.routes.empty()) throw ParseError(source_ + ": the config defines no [routes]");
  return s;
}

}  // namespace detail

namespace {

// toml++ bounds nested arrays and inline tables, but parses dotted keys (`[a.b.c...]`,
// `a.b.c = 1`) recursively without a bound: a key of 100,000 parts overflows the stack. No real
// config needs more than a few parts; the key part of each line (before '=', or the whole of a
// table header) is counted before toml++ sees the text.
constexpr size_t kMaxKeyParts = 64;

// Where the multi-line string closing with `delim` closes in `line`, from `from` on: in a basic
// one (""") a backslash escapes the next character, so \""" closes nothing.
// The string may end with one or two more quotes than its delimiter ("""q"""" is the text q"):
// the close returned is the last three of them, so what follows is read from where the string
// really ends.
size_t closeOf(std::string_view line, size_t from, std::string_view delim) {
  size_t at = std::string_view::npos;
  if (delim == "'''") {
    at = line.find(delim, from);
  } else {
    for (size_t i = from; i < line.size(); ++i) {
      if (line[i] == '\\') ++i;
      else if (line.substr(i, 3) == delim) {
        at = i;
        break;
      }
    }
  }
  for (int extra = 0; at != std::string_view::npos && extra < 2 && at + 3 < line.size() && line[at + 3] == delim[0]; ++extra) {
    ++at;
  }
  return at;
}

// The delimiter (""" or ''') of a multi-line string that opens in `line` from `from` on and does
// not close on it, or "" when none is left open. Quotes of one-line strings are skipped over.
std::string_view openMultiLineString(std::string_view line, size_t from) {
  char quote = 0;
  for (size_t i = from; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '#') return "";
    if (c != '"' && c != '\'') continue;
    std::string_view delim = c == '"' ? R"(""")" : "'''";
    if (line.substr(i, 3) != delim) {
      quote = c;
      continue;
    }
    size_t close = closeOf(line, i + 3, delim);
    if (close == std::string_view::npos) return delim;
    i = close + 2;
  }
  return "";
}

bool isBareKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// The most dots joining the parts of one dotted key on `line` (from `from`, up to a comment or a
// multi-line string's opening): a part is a run of bare-key characters or a one-line quoted
// string, and dots between parts may have blanks around them. Anywhere on the line, so the
// keys of an inline table count ({ a.b.c = 1 }); a float ("1.5") is one dot, however many
// share the line.
size_t longestDottedRun(std::string_view line, size_t from) {
  size_t longest = 0, run = 0;
  bool after_part = false, after_dot = false;
  for (size_t i = from; i < line.size(); ++i) {
    char c = line[i];
    if (c == '#') break;
    if (c == '"' || c == '\'') {
      std::string_view triple = c == '"' ? R"(""")" : "'''";
      if (line.substr(i, 3) == triple) {  // a multi-line string: a value, never a key
        size_t end = closeOf(line, i + 3, triple);
        if (end == std::string_view::npos) break;  // it goes on past this line
        i = end + 2;
        run = 0;
        after_part = after_dot = false;
        continue;
      }
      size_t close = i + 1;
      while (close < line.size() && line[close] != c) close += (c == '"' && line[close] == '\\') ? 2 : 1;
      i = close;
      if (!after_dot) run = 0;
      after_part = true;
      after_dot = false;
    } else if (isBareKeyChar(c)) {
      if (!after_part || after_dot) {
        if (!after_dot) run = 0;
        after_part = true;
        after_dot = false;
      }
      // else: the same part goes on
    } else if (c == '.') {
      if (after_part && !after_dot) {
        longest = std::max(longest, ++run);
        after_dot = true;
      } else {
        run = 0;
        after_part = after_dot = false;
      }
    } else if (c == ' ' || c == '\t') {
      if (after_part && !after_dot) {
        // A blank after a part: a dot may still follow ("a . b"), anything else ends the run.
        size_t next = line.find_first_not_of(" \t", i);
        if (next == std::string_view::npos || line[next] != '.') after_part = false, run = 0;
      }
    } else {
      run = 0;
      after_part = after_dot = false;
    }
  }
  return longest;
}

std::string tooManyKeyParts(std::string_view text, std::string_view source) {
  size_t line_no = 1;
  std::string_view open_string;  // the delimiter of the multi-line string these lines are inside
  for (size_t start = 0; start <= text.size(); ++line_no) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    size_t from = 0;
    if (!open_string.empty()) {  // a string's text is no key, whatever dots it holds
      size_t close = closeOf(line, 0, open_string);
      if (close == std::string_view::npos) continue;
      from = close + 3;
    }
    if (longestDottedRun(line, from) >= kMaxKeyParts) {
      return std::string(source) + ":" + std::to_string(line_no) + ": a dotted key of more than " +
             std::to_string(kMaxKeyParts) + " parts";
    }
    open_string = openMultiLineString(line, from);  // a value's, or an array element's on its own line
  }
  return "";
}

}  // namespace

Expected<Settings> parseConfig(std::string_view text, std::string_view source, std::string_view base_dir) {
  if (std::string why = tooManyKeyParts(text, source); !why.empty()) return Status(Code::kInvalidArgument, why);
  try {
    toml::table root = toml::parse(text, source);
    Settings settings = detail::Parser(source, base_dir).run(root);
    settings.text_hash = textHash(text);
    return settings;
  } catch (const toml::parse_error& e) {
    return Status(Code::kInvalidArgument, std::string(source) + ":" +
                                              std::to_string(e.source().begin.line) + ": " +
                                              std::string(e.description()));
  } catch (const detail::ParseError& e) {
    return Status(Code::kInvalidArgument, e.text());
  }
}

std::string textHash(std::string_view text) {
  return std::to_string(std::hash<std::string_view>{}(text)) + "/" + std::to_string(text.size());
}

Expected<Settings> loadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(Code::kNotFound, path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dir = ".";
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) dir = path.substr(0, slash == 0 ? 1 : slash);
  return parseConfig(ss.str(), path, dir);
}

Expected<Settings> loadDefaultConfig() {
  return parseConfig(defaultConfigText(), "<embedded default>", ".");
}

}  // namespace outrigger::config
