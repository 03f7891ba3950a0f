// Immutable chain snapshots. The main thread builds one from a config (loading plugins and
// creating instances off the request path) and publishes it to every worker; a request keeps
// the snapshot it started with until it ends, so a reload never changes a request mid-flight.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "cost/price_table.h"
#include "plugin/instance.h"
#include "plugin/loader.h"
#include "chain/stage_kind.h"

namespace outrigger::chain {

struct Stage {
  std::shared_ptr<plugin::PluginInstance> instance;
  std::string origin;  // "guardrail/input_rules": names the stage in statuses and spans
};

// An upstream target: a provider instance and the model it calls.
struct Target {
  Stage stage;
  std::string model;  // empty: the route's model, else the caller's
  uint32_t weight = 1;
  uint32_t max_concurrent = 0;  // attempts in flight, all workers together; 0: unlimited
  // The target's requests per minute for the whole process (every worker takes from one
  // bucket); 0: none.
  uint32_t rpm = 0;
  uint32_t tpm = 0;  // likewise for LLM tokens per minute
  std::string key = {};  // "instance/model": the target's name in spans and its breaker's key
  // Its breaker and retry budget, merged over every route that names it (chain.cc).
  resilience::TargetPolicy shared = {};
};

struct Route {
  std::string name;
  std::string model;  // empty: pass the caller's model through
  std::vector<Stage> guardrails;
  std::vector<Stage> limiters;  // admit in order after the request guardrails; settle per attempt
  std::vector<Stage> cache;  // looked up in order; every one stores a provider's answer
  uint32_t cache_replay_chunk_bytes = 64;  // a streamed hit goes out in chunks of this size
  uint32_t max_reasks = 1;                 // re-asks a response guardrail may ask for
  uint32_t max_held_bytes = 65536;         // bytes of a stream guardrails may hold back at once
  uint32_t max_answer_bytes = 16u << 20;   // a streamed answer's text and tool calls, all told
  config::Capture capture = config::Capture::kNone;  // what of the prompt and answer the record carries
  bool capture_denied_prompts = false;               // route `capture_denied = "full"`
  Stage provider;             // the first target's stage
  std::vector<Target> targets;  // at least one
  resilience::RoutePolicy policy;
  std::vector<Stage> exporters;
  std::vector<std::string> calls;  // routes its plugins may run as model calls (acyclic)
  bool internal = false;  // only other routes' plugins reach it (findForCaller skips it)
  std::optional<std::string> fallback_answer;  // served, marked degraded, when every target failed
  // The pipeline (layOutSteps): request steps, the provider, then the response steps, which
  // start at `response_steps_from` (where a cache hit goes on). Points into this route.
  std::vector<Step> steps;
  size_t response_steps_from = 0;
  bool stream_guards = false;  // a guardrail sees chunks (on_chunk or on_stream_end)
};

// Lays out `route`'s steps from its guardrails, limiters and caches: guardrails on the request,
// limiter admits, cache lookups, the provider, guardrails on the response, cache stores. Call once the route is in
// its final place (the steps point into it).
void layOutSteps(Route* route);

// What one worker runs. Instances are that worker's own unless their type is shared.
class WorkerChain {
 public:
  // What a caller's model reaches: the route named `model`, else the default route; nullptr when
  // neither exists, or `model` names an internal route.
  const Route* resolve(std::string_view model) const;
  // The route named `name` only, internal ones included (other routes' model calls).
  const Route* find(std::string_view name) const;
  // The route named `name` when a caller may name it (not internal).
  const Route* findForCaller(std::string_view name) const;

  std::map<std::string, Route, std::less<>> routes;
  std::string default_route;
  uint64_t generation = 0;
  // What models cost ([prices] over the embedded table); one table shared by every worker.
  std::shared_ptr<const cost::PriceTable> prices;
};

struct ChainSnapshot {
  std::vector<std::shared_ptr<const WorkerChain>> workers;
  std::vector<std::shared_ptr<plugin::PluginInstance>> exporters;  // for flush on reload/shutdown
  plugin::PluginCatalog catalog;
  uint64_t generation = 0;
};

// Where plugins are found when the config names no directory: <exe dir>/../lib/outrigger/plugins.
std::string defaultPluginDir();

// Loads the config's plugin directories into a catalog.
Expected<plugin::PluginCatalog> loadCatalog(const config::Settings& settings);

// Builds a snapshot for `worker_count` workers. Fails (creating nothing that survives) when any
// type is missing, any config is invalid or any create fails.
Expected<std::shared_ptr<ChainSnapshot>> buildChain(const config::Settings& settings, size_t worker_count,
                                                    uint64_t generation);

}  // namespace outrigger::chain
