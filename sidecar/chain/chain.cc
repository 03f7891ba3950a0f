#include "chain/chain.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <set>
#include <unordered_map>

#include "chain/host_api.h"
#include "chain/prompt_tokens.h"
#include "chain/stream_guard.h"
#include "cost/price_sources.h"
#include "plugin/schema.h"

namespace outrigger::chain {

namespace {

// A target's rate buckets, breaker and retry budget are shared by every route that names the
// same instance and model, so they get one setting each: the strictest any route sets (a route
// without one does not lift it). Set per request instead, they followed whichever route asked
// last: one route's breaker opened another's target, or never opened at all.
void unifyTargetPolicies(WorkerChain* chain) {
  struct Strictest {
    uint32_t rpm = 0, tpm = 0;
    resilience::TargetPolicy shared;
  };
  std::unordered_map<std::string, Strictest> by_key;
  auto tighter = [](auto have, auto next) { return next > 0 && (have <= 0 || next < have) ? next : have; };
  for (auto& [name, route] : chain->routes) {
    const resilience::RoutePolicy& p = route.policy;
    for (const Target& t : route.targets) {
      Strictest& s = by_key[t.key];
      s.rpm = tighter(s.rpm, t.rpm);
      s.tpm = tighter(s.tpm, t.tpm);
      s.shared.retry_budget_ratio = tighter(s.shared.retry_budget_ratio, p.retry.budget_ratio);
      if (!resilience::hasBreaker(p.breaker)) continue;
      resilience::BreakerPolicy& b = s.shared.breaker;
      b.open_ms = resilience::hasBreaker(b) ? std::max(b.open_ms, p.breaker.open_ms) : p.breaker.open_ms;
      b.failure_threshold = tighter(b.failure_threshold, p.breaker.failure_threshold);
      if (p.breaker.error_rate_percent) {
        b.window = b.error_rate_percent ? std::min(b.window, p.breaker.window) : p.breaker.window;
        b.error_rate_percent = tighter(b.error_rate_percent, p.breaker.error_rate_percent);
      }
    }
  }
  for (auto& [name, route] : chain->routes) {
    for (Target& t : route.targets) {
      const Strictest& s = by_key[t.key];
      t.rpm = s.rpm;
      t.tpm = s.tpm;
      t.shared = s.shared;
    }
  }
}

// Token limits count prompts with the targets' encodings: built at load, not on a request. A
// target calling the caller's model may need any of them.
void prepareTokenCounts(const Route& route) {
  bool limits_tokens = !route.limiters.empty();
  for (const Target& t : route.targets) limits_tokens = limits_tokens || t.tpm;
  if (!limits_tokens) return;
  for (const Target& t : route.targets) {
    const std::string& model = t.model.empty() ? route.model : t.model;
    if (model.empty()) PromptTokenCounter::prepareAll();
    else PromptTokenCounter::prepare(model);
  }
}

}  // namespace

void layOutSteps(Route* route) {
  std::vector<Step>& steps = route->steps;
  steps.clear();
  for (const Stage& g : route->guardrails) steps.push_back({StageKind::kRequestGuardrail, &g});
  for (const Stage& l : route->limiters) steps.push_back({StageKind::kLimiterAdmit, &l});
  for (const Stage& c : route->cache) steps.push_back({StageKind::kCacheLookup, &c});
  steps.push_back({StageKind::kProvider, nullptr});
  route->response_steps_from = steps.size();
  for (const Stage& g : route->guardrails) steps.push_back({StageKind::kResponseGuardrail, &g});
  for (const Stage& c : route->cache) steps.push_back({StageKind::kCacheStore, &c});
  route->stream_guards = StreamGuard::needed(*route);
}

const Route* WorkerChain::find(std::string_view name) const {
  auto it = routes.find(name);
  return it == routes.end() ? nullptr : &it->second;
}

const Route* WorkerChain::findForCaller(std::string_view name) const {
  const Route* r = find(name);
  return r && !r->internal ? r : nullptr;
}

const Route* WorkerChain::resolve(std::string_view model) const {
  // An internal route's name is not a model the default route takes: the caller (an eval's judge
  // most likely) meant that route, and another's answer would mislead it.
  if (const Route* r = find(model)) return r->internal ? nullptr : r;
  return findForCaller(default_route);
}

std::string defaultPluginDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "lib/outrigger/plugins";
  std::string exe(buf, static_cast<size_t>(n));
  std::string dir = exe.substr(0, exe.rfind('/'));
  return dir + "/../lib/outrigger/plugins";
}

namespace {

// The library the naming convention gives a type: guardrail_pii.so provides guardrail.pii.
std::string conventionalFile(const std::string& kind, const std::string& type) {
  std::string file = kind + "_" + type + ".so";
  std::replace_if(file.begin(), file.end() - 3, [](char c) { return c == '.' || c == '-'; }, '_');
  return file;
}

}  // namespace

Expected<plugin::PluginCatalog> loadCatalog(const config::Settings& settings) {
  plugin::PluginCatalog catalog;
  std::vector<std::string> dirs = settings.plugin_dirs;
  if (dirs.empty()) dirs.push_back(defaultPluginDir());
  for (const auto& d : dirs) {
    struct stat st{};
    if (::stat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status(Code::kNotFound, d + ": cannot open plugin directory");
    }
  }
  // Only the libraries the instances need, found first by their file names: each library loaded
  // maps its own dependencies for good (guardrail.pii's libphonenumber with ICU and protobuf,
  // guardrail.tokens' sentencepiece ...), a third of the default daemon's memory for plugins
  // nothing used. A type no file is named after (a library of several types, another name)
  // loads every library, in directory then name order, as a catalog of all types does.
  bool all_found = true;
  for (const config::InstanceSettings& is : settings.instances) {
    outrigger_kind kind = 0;
    if (!plugin::parseKind(is.kind, &kind) || catalog.find(kind, is.type)) continue;
    for (const auto& d : dirs) {
      std::string path = d + "/" + conventionalFile(is.kind, is.type);
      struct stat st{};
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (Status s = catalog.addLibrary(path); !s.isOk()) return s;
      if (catalog.find(kind, is.type)) break;
    }
    all_found = all_found && catalog.find(kind, is.type);
  }
  if (!all_found) {
    for (const auto& d : dirs) {
      if (Status s = catalog.addDirectory(d); !s.isOk()) return s;
    }
  }
  return catalog;
}

namespace {

using InstanceMap = std::map<std::string, std::shared_ptr<plugin::PluginInstance>>;

Expected<const plugin::PluginType*> typeOf(const config::InstanceSettings& is, const plugin::PluginCatalog& catalog) {
  outrigger_kind kind = 0;
  plugin::parseKind(is.kind, &kind);
  const plugin::PluginType* type = catalog.find(kind, is.type);
  if (!type) {
    return Status(Code::kNotFound, is.where + ": instance '" + is.name + "': no plugin provides " + is.kind +
                                       " type '" + is.type + "'");
  }
  return type;
}

// An instance no route names is not created, but a misspelt type or key in it is an error now,
// not when a later reload puts it on a route.
Status checkUnusedInstances(const config::Settings& settings, const plugin::PluginCatalog& catalog,
                            const std::set<std::string>& used) {
  for (const config::InstanceSettings& is : settings.instances) {
    if (used.count(is.name)) continue;
    auto type = typeOf(is, catalog);
    if (!type.ok()) return type.status();
    if (Status s = plugin::validateConfig(*type.value()->schema, is.config_json, is.lines); !s.isOk()) {
      return Status(Code::kInvalidArgument, "instance '" + is.name + "' (" + is.where + "): " + s.message());
    }
  }
  return Status::ok();
}

Expected<Stage> stageFor(const std::string& name, const config::Settings& settings,
                         const plugin::PluginCatalog& catalog, InstanceMap* shared, InstanceMap* local) {
  const config::InstanceSettings* is = nullptr;
  for (const auto& i : settings.instances) {
    if (i.name == name) is = &i;
  }
  if (!is) return Status(Code::kNotFound, "unknown instance '" + name + "'");
  for (InstanceMap* m : {shared, local}) {
    if (auto it = m->find(name); it != m->end()) return Stage{it->second, is->kind + "/" + name};
  }
  auto type = typeOf(*is, catalog);
  if (!type.ok()) return type.status();
  auto inst = plugin::PluginInstance::create(*type.value(), *is, hostApiTemplate());
  if (!inst.ok()) return inst.status();
  // Exporters run on the exporter thread only: one instance serves every worker.
  bool one_for_all = inst.value()->shared() || type.value()->kind == OUTRIGGER_KIND_EXPORTER;
  (one_for_all ? *shared : *local)[name] = inst.value();
  return Stage{inst.value(), is->kind + "/" + name};
}

}  // namespace

Expected<std::shared_ptr<ChainSnapshot>> buildChain(const config::Settings& settings, size_t worker_count,
                                                    uint64_t generation) {
  auto snapshot = std::make_shared<ChainSnapshot>();
  snapshot->generation = generation;
  auto catalog = loadCatalog(settings);
  if (!catalog.ok()) return catalog.status();
  snapshot->catalog = std::move(catalog.value());
  auto prices = cost::buildPriceTable(settings.prices.file, settings.prices.entries);
  if (!prices.ok()) return prices.status();
  InstanceMap shared;
  std::set<std::string> used;
  for (size_t w = 0; w < worker_count; ++w) {
    InstanceMap local;
    auto chain = std::make_shared<WorkerChain>();
    chain->default_route = settings.default_route;
    chain->generation = generation;
    chain->prices = prices.value();
    for (const config::RouteSettings& rs : settings.routes) {
      Route r;
      r.name = rs.name;
      r.model = rs.model;
      auto add = [&](const std::string& name, std::vector<Stage>* out) -> Status {
        auto st = stageFor(name, settings, snapshot->catalog, &shared, &local);
        if (!st.ok()) return st.status();
        used.insert(name);
        out->push_back(st.value());
        return Status::ok();
      };
      std::vector<Stage> provider;
      for (const config::TargetSettings& ts : rs.targets) {
        if (Status s = add(ts.provider, &provider); !s.isOk()) return s;
        Target t;
        t.stage = provider.back();
        t.model = ts.model;
        t.weight = ts.weight;
        t.max_concurrent = ts.max_concurrent;
        // The whole rate: every worker draws on the same buckets (resilience::HealthRegistry).
        t.rpm = ts.rpm;
        t.tpm = ts.tpm;
        t.key = ts.provider + "/" + (!ts.model.empty() ? ts.model : !rs.model.empty() ? rs.model : "*");
        r.targets.push_back(std::move(t));
      }
      r.provider = provider[0];
      r.policy = rs.policy;
      r.fallback_answer = rs.fallback_answer;
      for (const auto& g : rs.guardrails) {
        if (Status s = add(g, &r.guardrails); !s.isOk()) return s;
      }
      for (const auto& l : rs.limiters) {
        if (Status s = add(l, &r.limiters); !s.isOk()) return s;
      }
      for (const auto& c : rs.caches) {
        if (Status s = add(c, &r.cache); !s.isOk()) return s;
      }
      r.cache_replay_chunk_bytes = rs.cache_replay_chunk_bytes;
      r.max_reasks = rs.max_reasks;
      r.calls = rs.calls;
      r.max_held_bytes = rs.max_held_bytes;
      r.max_answer_bytes = rs.max_answer_bytes;
      r.internal = rs.internal;
      r.capture = rs.capture;
      r.capture_denied_prompts = rs.capture_denied_prompts;
      for (const auto& e : rs.exporters) {
        if (Status s = add(e, &r.exporters); !s.isOk()) return s;
      }
      layOutSteps(&chain->routes.emplace(rs.name, std::move(r)).first->second);
    }
    unifyTargetPolicies(chain.get());
    for (const auto& [name, route] : chain->routes) prepareTokenCounts(route);
    snapshot->workers.push_back(std::move(chain));
  }
  if (Status s = checkUnusedInstances(settings, snapshot->catalog, used); !s.isOk()) return s;
  for (auto& [name, inst] : shared) {
    if (inst->kind() == OUTRIGGER_KIND_EXPORTER) snapshot->exporters.push_back(inst);
  }
  return snapshot;
}

}  // namespace outrigger::chain
