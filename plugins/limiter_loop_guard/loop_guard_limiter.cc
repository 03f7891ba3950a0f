// limiter.loop_guard: a breaker for runaway agent loops. Per session (or user, or tenant), within
// a rolling window: at most so many calls, tokens and USD, and the same request (model and
// messages) at most so many times. A tripped rule refuses with RESOURCE_EXHAUSTED naming it, and
// is counted per rule.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "bounded_json.h"
#include "loop_table.h"
#include "limit_key.h"

namespace {

using namespace outrigger::plugin;
using outrigger::loop_guard::LoopTable;
using outrigger::loop_guard::Rule;
using outrigger::loop_guard::Rules;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "key": {"enum": ["session", "user", "tenant"], "description": "what a loop is per (default session); requests without one are not guarded"},
    "window_seconds": {"type": "integer", "minimum": 1, "maximum": 86400, "description": "the rolling window (default 60)"},
    "max_calls": {"type": "integer", "minimum": 0, "maximum": 100000000, "description": "requests per window"},
    "max_tokens": {"type": "integer", "minimum": 0, "maximum": 9007199254740992, "description": "LLM tokens used per window"},
    "max_usd": {"type": "number", "minimum": 0, "description": "USD used per window"},
    "max_repeats": {"type": "integer", "minimum": 0, "maximum": 1000000, "description": "identical requests (model and messages) per window"},
    "max_keys": {"type": "integer", "minimum": 1, "maximum": 10000000, "description": "keys tracked at once; past it the least recently active is forgotten"}
  }
})json";

struct Settings {
  std::string key = "session";
  Rules rules;
};

Settings parseSettings(std::string_view config) {
  rapidjson::Document d;
  if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  Settings s;
  if (d.HasMember("key")) s.key = d["key"].GetString();
  if (d.HasMember("window_seconds")) s.rules.window_ms = d["window_seconds"].GetInt64() * 1000;
  if (d.HasMember("max_calls")) s.rules.max_calls = d["max_calls"].GetUint();
  if (d.HasMember("max_tokens")) s.rules.max_tokens = double(d["max_tokens"].GetUint64());
  if (d.HasMember("max_usd")) s.rules.max_usd = d["max_usd"].GetDouble();
  if (d.HasMember("max_repeats")) s.rules.max_repeats = d["max_repeats"].GetUint();
  if (d.HasMember("max_keys")) s.rules.max_keys = d["max_keys"].GetUint64();
  if (!s.rules.max_calls && s.rules.max_tokens <= 0 && s.rules.max_usd <= 0 && !s.rules.max_repeats) {
    throw std::runtime_error("set at least one of max_calls, max_tokens, max_usd, max_repeats");
  }
  return s;
}

// One table per instance name for the process: every worker shares it, and a reload keeps it.
std::shared_ptr<LoopTable> tableFor(const std::string& name, const Rules& rules) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<LoopTable>> tables;
  std::lock_guard<std::mutex> lock(mu);
  auto& t = tables[name];
  if (!t) t = std::make_shared<LoopTable>(rules);  // an existing one takes these at first admit (useRules)
  return t;
}

// A request's model and messages: two requests with the same hash asked the same thing. Every
// field goes in with its length first, so no two different requests run together into the same
// bytes ("getx" + "{}" against "get" + "x{}"). Tool call ids are left out: they tell calls
// apart, not what was asked.
uint64_t requestHash(const outrigger_request_view& r) {
  using outrigger::loop_guard::fnv1a;
  auto field = [](uint64_t h, std::string_view s) {
    uint64_t n = s.size();
    return fnv1a(fnv1a(h, std::string_view(reinterpret_cast<const char*>(&n), sizeof n)), s);
  };
  uint64_t h = field(outrigger::loop_guard::kFnvOffset, view(r.model));
  for (size_t i = 0; i < r.message_count; ++i) {
    const outrigger_message_view& m = r.messages[i];
    h = field(field(field(h, view(m.role)), view(m.content)), view(m.name));
    h = field(h, std::to_string(m.tool_calls ? m.tool_call_count : 0));
    for (size_t j = 0; m.tool_calls && j < m.tool_call_count; ++j) {
      h = field(field(h, view(m.tool_calls[j].name)), view(m.tool_calls[j].arguments));
    }
  }
  return h;
}

// What an admitted request used, charged to its key when the request ends.
struct Usage {
  Usage(Host h, std::shared_ptr<LoopTable> t, std::string k) : host(h), table(std::move(t)), key(std::move(k)) {}
  Usage(const Usage&) = delete;
  Usage& operator=(const Usage&) = delete;
  ~Usage() { table->charge(key, tokens, usd, int64_t(host.nowNs() / 1000000)); }

  Host host;
  std::shared_ptr<LoopTable> table;
  std::string key;
  double tokens = 0, usd = 0;
};

class LoopGuard final : public Limiter {
 public:
  static constexpr const char* kName = "loop_guard";
  static constexpr const char* kDescription = "stops runaway loops per session: calls, tokens and USD in a rolling window, and the same request repeated";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_SHARED_INSTANCE;

  LoopGuard(Host host, std::string_view name, std::string_view config)
      : Limiter(host, name), settings_(parseSettings(config)), table_(tableFor(std::string(name), settings_.rules)) {
    static std::atomic<uint64_t> instances{0};
    rules_stamp_ = ++instances;
  }

  outrigger_status admit(const outrigger_request_view& request, const outrigger_limit_estimate&,
                         outrigger_limit_result& result) override {
    table_->useRules(rules_stamp_, settings_.rules);
    std::string key = keyOf(request);
    if (key.empty()) return OUTRIGGER_CONTINUE;  // no session: nothing to tell loops apart by
    int64_t now = int64_t(host().nowNs() / 1000000);
    std::string label = settings_.key + " \"" + std::string(key) + "\"";
    auto check = table_->admit(key, label, requestHash(request), now);
    if (table_->firstEvictionUnsaid()) {
      host().log(OUTRIGGER_LOG_WARN, "loop guard: " + std::to_string(settings_.rules.max_keys) +
                                         " keys tracked (max_keys): the least recently active are forgotten");
    }
    if (!check.admitted) {
      thread_local std::string buffer;  // copied by the host when admit returns
      buffer = std::move(check.reason);
      result.code = OUTRIGGER_CODE_RESOURCE_EXHAUSTED;
      result.retry_after_ms = check.retry_after_ms;
      result.reason = str(buffer);
      if (table_->refusals(check.rule) == 1) host().log(OUTRIGGER_LOG_WARN, buffer);  // the first of each rule
      return OUTRIGGER_STOP;
    }
    outrigger_status st = host().setRequestState(request.handle, std::make_unique<Usage>(host(), table_, std::string(key)));
    return st == OUTRIGGER_OK ? OUTRIGGER_CONTINUE : st;
  }

  void settle(const outrigger_request_view& request, const outrigger_settlement& s) override {
    auto* u = static_cast<Usage*>(host().requestState(request.handle));
    if (!u) return;
    u->tokens += double(s.usage.prompt_tokens) + double(s.usage.completion_tokens);
    u->usd += s.cost_usd;
  }

  // What the table does past its bound must show: a forgotten key is a session whose loop
  // counts start again, and a caller sending new session ids can make the table forget others.
  void reportMetrics(const MetricsWriter& w) override {
    w.gauge("loop_guard_keys", "Sessions (or other keys) the loop guard tracks", {}, double(table_->size()));
    w.counter("loop_guard_evictions_total",
              "Keys forgotten to make room past max_keys: their counts start again", {}, double(table_->evictions()));
    for (size_t r = 0; r < outrigger::loop_guard::kRuleCount; ++r) {
      auto rule = static_cast<outrigger::loop_guard::Rule>(r);
      w.counter("loop_guard_refusals_total", "Requests the loop guard refused, by rule",
                {{"rule", outrigger::loop_guard::ruleName(rule)}}, double(table_->refusals(rule)));
    }
  }

 private:
  // A user or session is the caller's to name: it is keyed within its tenant.
  std::string keyOf(const outrigger_request_view& r) const {
    const outrigger_metadata_view* md = r.metadata;
    if (!md) return {};
    if (settings_.key == "tenant") return std::string(view(md->tenant));
    std::string_view id = settings_.key == "user" ? view(md->user) : view(md->session);
    return id.empty() ? std::string() : outrigger::limiter::tenantScoped(view(md->tenant), id);  // none: not guarded
  }

  Settings settings_;
  std::shared_ptr<LoopTable> table_;
  uint64_t rules_stamp_ = 0;  // this instance's, for LoopTable::useRules
};

}  // namespace

OUTRIGGER_PLUGIN("limiter_loop_guard", "1.0.0", outrigger::plugin::typeOf<LoopGuard>())
