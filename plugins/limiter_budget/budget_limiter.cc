// limiter.budget: spending limits in USD and LLM tokens per tenant, user, session or tag, over a
// daily, monthly or rolling window, kept in SQLite across restarts. Admission reserves the
// request's worst case (its prompt plus its largest possible answer, at the route's highest
// prices); the request's end settles it to what the attempts really cost. So requests admitted
// at once can never together promise more than the budget has left.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "budget_ledger.h"
#include "bounded_json.h"
#include "limit_key.h"

namespace {

using namespace outrigger::plugin;
using outrigger::budget::Amount;
using outrigger::budget::BudgetPolicy;
using outrigger::budget::Ledger;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["window"],
  "properties": {
    "key": {"type": "string", "pattern": "^(tenant|user|session|tag:.+)$", "description": "what a budget is per: tenant, user, session or tag:<name> (default tenant)"},
    "window": {"enum": ["daily", "monthly", "rolling"], "description": "calendar day or month (UTC), or rolling"},
    "window_seconds": {"type": "integer", "minimum": 60, "maximum": 31622400, "description": "the rolling window's length"},
    "limit_usd": {"type": "number", "minimum": 0, "description": "USD per key and window"},
    "limit_tokens": {"type": "integer", "minimum": 1, "maximum": 9007199254740992, "description": "LLM tokens (prompt + completion) per key and window"},
    "soft_percent": {"type": "number", "minimum": 0, "maximum": 100, "description": "warn once per key and window past this share; 0: never"},
    "default_max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 10000000, "description": "the answer's size to reserve when neither the caller nor the price table caps it"},
    "unpriced": {"enum": ["deny", "allow"], "description": "a USD budget's answer to a model the price table lacks"},
    "path": {"type": "string", "pattern": "^/", "description": "absolute path of the SQLite file; unset: in memory only"},
    "flush_interval_ms": {"type": "integer", "minimum": 10, "maximum": 60000, "description": "how often spending is written"},
    "max_keys": {"type": "integer", "minimum": 1, "maximum": 10000000, "description": "keys tracked at once"},
    "metrics_keys": {"type": "integer", "minimum": 0, "maximum": 500, "description": "keys with series on /metrics: those that spent the largest share"}
  }
})json";

int64_t unixMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct Settings {
  BudgetPolicy policy;
  std::string key;  // "tenant", "user", "session", "tag:<name>"
  std::string path;
  uint32_t flush_interval_ms = 1000;
  uint64_t default_max_output_tokens = 4096;
  bool allow_unpriced = false;
  size_t metrics_keys = 20;
};

Settings parseSettings(std::string_view name, std::string_view config) {
  rapidjson::Document d;
  if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
  Settings s;
  s.policy.name = std::string(name);
  s.key = d.HasMember("key") ? d["key"].GetString() : "tenant";
  s.policy.key_label = s.key.rfind("tag:", 0) == 0 ? "tag " + s.key.substr(4) : s.key;
  outrigger::budget::parseWindowKind(d["window"].GetString(), &s.policy.window.kind);
  bool rolling = s.policy.window.kind == outrigger::budget::WindowKind::kRolling;
  if (rolling != d.HasMember("window_seconds")) {
    throw std::runtime_error(rolling ? "a rolling window needs window_seconds" : "window_seconds is for a rolling window only");
  }
  if (rolling) s.policy.window.seconds = d["window_seconds"].GetInt64();
  if (d.HasMember("limit_usd")) s.policy.limit_usd = d["limit_usd"].GetDouble();
  if (d.HasMember("limit_tokens")) s.policy.limit_tokens = double(d["limit_tokens"].GetUint64());
  if (s.policy.limit_usd <= 0 && s.policy.limit_tokens <= 0) throw std::runtime_error("set limit_usd, limit_tokens or both");
  if (d.HasMember("soft_percent")) s.policy.soft_percent = d["soft_percent"].GetDouble();
  if (d.HasMember("max_keys")) s.policy.max_keys = d["max_keys"].GetUint64();
  if (d.HasMember("default_max_output_tokens")) s.default_max_output_tokens = d["default_max_output_tokens"].GetUint64();
  if (d.HasMember("unpriced")) s.allow_unpriced = std::string_view(d["unpriced"].GetString()) == "allow";
  if (d.HasMember("path")) s.path = d["path"].GetString();
  if (d.HasMember("flush_interval_ms")) s.flush_interval_ms = d["flush_interval_ms"].GetUint();
  if (d.HasMember("metrics_keys")) s.metrics_keys = d["metrics_keys"].GetUint();
  return s;
}

// One ledger per budget name for the process: every worker, and the instance a reload creates
// while the old one still serves, share it. It goes (flushing) when no instance or request
// holds it any more; a later instance of the name loads it back from the file.
struct LiveLedger {
  std::weak_ptr<Ledger> ledger;
  std::string key, path;
  outrigger::budget::WindowSpec window;
};

std::shared_ptr<Ledger> ledgerFor(const Settings& s) {
  static std::mutex mu;
  static std::map<std::string, LiveLedger> live;
  std::lock_guard<std::mutex> lock(mu);
  LiveLedger& entry = live[s.policy.name];
  if (auto ledger = entry.ledger.lock()) {
    if (entry.key != s.key || entry.path != s.path || entry.window.kind != s.policy.window.kind ||
        entry.window.seconds != s.policy.window.seconds) {
      throw std::runtime_error("key, window and path of a budget cannot change while it is in use; restart to change them");
    }
    return ledger;  // the instance applies its limits when it first admits (Ledger::usePolicy)
  }
  std::unique_ptr<outrigger::budget::SpendStore> store;
  std::string error;
  if (!s.path.empty()) {
    store = outrigger::budget::SqliteSpendStore::open(s.path, &error);
    if (!store) throw std::runtime_error(error);
  }
  auto ledger = Ledger::create(s.policy, std::move(store), unixMs(), &error);
  if (!ledger) throw std::runtime_error("cannot load " + s.path + ": " + error);
  ledger->startFlusher(std::chrono::milliseconds(s.flush_interval_ms), &unixMs);
  entry = {ledger, s.key, s.path, s.policy.window};
  return ledger;
}

// What an admitted request holds: its reservation, and what its attempts cost so far. Released
// by the host once the request has ended (after its last settle), which settles the ledger.
struct Reservation {
  Reservation(Host h, std::shared_ptr<Ledger> l, std::string k, Amount need, Amount attempt)
      : host(h), ledger(std::move(l)), key(std::move(k)), reserved(need), per_attempt(attempt) {}
  Reservation(const Reservation&) = delete;  // one settlement per reservation
  Reservation& operator=(const Reservation&) = delete;

  Host host;
  std::shared_ptr<Ledger> ledger;
  std::string key;
  Amount reserved;     // every attempt the route may bill
  Amount per_attempt;  // one attempt's worst case
  Amount used;

  ~Reservation() {
    auto settled = ledger->settle(key, reserved, used, unixMs());
    if (!settled.soft_crossed) return;
    BudgetPolicy p = ledger->policy();
    char amounts[160];
    if (p.limit_usd > 0 && p.limit_tokens > 0) {
      std::snprintf(amounts, sizeof amounts, "%.6g of %.6g USD, %.0f of %.0f tokens", settled.spent.usd, p.limit_usd,
                    settled.spent.tokens, p.limit_tokens);
    } else if (p.limit_usd > 0) {
      std::snprintf(amounts, sizeof amounts, "%.6g of %.6g USD", settled.spent.usd, p.limit_usd);
    } else {
      std::snprintf(amounts, sizeof amounts, "%.0f of %.0f tokens", settled.spent.tokens, p.limit_tokens);
    }
    host.log(OUTRIGGER_LOG_WARN, "budget \"" + p.name + "\" (" + p.window.describe() + "): " + p.key_label + " \"" + key +
                                     "\" crossed its soft threshold of " + std::to_string(int(p.soft_percent)) + "% (" +
                                     amounts + ")");
  }
};

class BudgetLimiter final : public Limiter {
 public:
  static constexpr const char* kName = "budget";
  static constexpr const char* kDescription = "USD and token budgets per tenant, user, session or tag over a day, a month or a rolling window, reserved at admission and kept in SQLite";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_SHARED_INSTANCE;

  BudgetLimiter(Host host, std::string_view name, std::string_view config)
      : Limiter(host, name), settings_(parseSettings(name, config)), ledger_(ledgerFor(settings_)) {
    static std::atomic<uint64_t> instances{0};
    policy_stamp_ = ++instances;
  }

  ~BudgetLimiter() override { ledger_->flush(unixMs()); }

  outrigger_status admit(const outrigger_request_view& request, const outrigger_limit_estimate& estimate,
                         outrigger_limit_result& result) override {
    ledger_->usePolicy(policy_stamp_, settings_.policy);
    if (std::string error = ledger_->takeError(); !error.empty()) host().log(OUTRIGGER_LOG_ERROR, error);
    bool priced = estimate.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_limit_estimate, unpriced);
    if (settings_.policy.limit_usd > 0 && (!priced || estimate.unpriced) && !settings_.allow_unpriced) {
      return refuse(result, OUTRIGGER_CODE_FAILED_PRECONDITION, 0,
                    "budget \"" + settings_.policy.name + "\" is in USD and the route's model has no price (unpriced = \"deny\")");
    }
    // The worst case: the prompt, and the longest answer the caller, else the model, allows.
    const bool no_answer = estimate.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_limit_estimate, no_completion) &&
                           estimate.no_completion;  // an embeddings request
    uint64_t out = estimate.max_completion_tokens;
    if (!out && priced) out = estimate.max_output_tokens;
    if (!out && !no_answer) out = settings_.default_max_output_tokens;
    Amount need{priced ? estimate.prompt_cost_usd + double(out) * estimate.output_price_usd : 0,
                double(std::max<uint64_t>(estimate.prompt_tokens, 1) + out)};
    // Re-asks and hedges are attempts the route may bill too: each is reserved, or 64 requests
    // at once that each re-ask spend twice what was reserved for them.
    const bool knows_attempts = estimate.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_limit_estimate, billed_attempts);
    const double attempts = knows_attempts && estimate.billed_attempts > 1 ? estimate.billed_attempts : 1;
    const Amount attempt = need;
    need.usd *= attempts;
    need.tokens *= attempts;
    // A budget smaller than every attempt together still admits a request one attempt fits in:
    // it then reserves the whole budget (only one attempt's worst case over it never fits).
    const BudgetPolicy& p = settings_.policy;
    if (p.limit_usd > 0) need.usd = std::min(need.usd, std::max(attempt.usd, p.limit_usd));
    if (p.limit_tokens > 0) need.tokens = std::min(need.tokens, std::max(attempt.tokens, p.limit_tokens));
    std::string key = keyOf(request);
    auto verdict = ledger_->reserve(key, need, unixMs());
    if (!verdict.admitted) {
      // A worst case over the whole budget never fits: FAILED_PRECONDITION, which no SDK retries.
      outrigger_code code = verdict.never ? OUTRIGGER_CODE_FAILED_PRECONDITION : OUTRIGGER_CODE_RESOURCE_EXHAUSTED;
      return refuse(result, code, verdict.retry_after_ms, verdict.reason);
    }
    auto r = std::make_unique<Reservation>(host(), ledger_, std::move(key), need, attempt);
    outrigger_status st = host().setRequestState(request.handle, std::move(r));  // a failure settles at once
    return st == OUTRIGGER_OK ? OUTRIGGER_CONTINUE : st;
  }

  // The limits, the keys that spent the largest share of them (a bounded number: a budget per
  // session may track a hundred thousand keys), and the refusals.
  void reportMetrics(const MetricsWriter& out) override {
    BudgetPolicy p = ledger_->policy();
    size_t tracked = 0;
    std::vector<outrigger::budget::KeyFigures> keys = ledger_->mostUsed(settings_.metrics_keys, unixMs(), &tracked);
    struct Unit {
      const char* name;
      double limit;
      double Amount::*field;
    };
    for (const Unit& u : {Unit{"usd", p.limit_usd, &Amount::usd}, Unit{"tokens", p.limit_tokens, &Amount::tokens}}) {
      if (u.limit <= 0) continue;
      out.gauge("budget_limit", "A budget's limit per key and window.", {{"unit", u.name}}, u.limit);
      for (const auto& k : keys) {
        out.gauge("budget_spent", "What a key spent in the budget's current window.", {{"key", k.key}, {"unit", u.name}},
                  k.spent.*u.field);
        out.gauge("budget_remaining", "What a key has left in the window, reservations of requests in flight deducted.",
                  {{"key", k.key}, {"unit", u.name}}, std::max(0.0, u.limit - k.spent.*u.field - k.reserved.*u.field));
      }
    }
    for (const auto& k : keys) {
      out.gauge("budget_used_ratio", "The largest share of a limit a key spent in the window (1: all of it).",
                {{"key", k.key}}, k.used);
    }
    out.gauge("budget_keys", "Keys the budget tracks (those on /metrics are the most used).", {}, double(tracked));
    out.counter("budget_refusals_total", "Requests the budget refused.", {}, double(ledger_->refusals()));
    out.counter("budget_soft_crossings_total", "Keys that crossed the soft threshold, once per window.", {},
                double(ledger_->softCrossings()));
  }

  // What an attempt cost is charged as it reports it; an attempt cut short in flight without
  // usage may have been billed for anything up to its worst case, so that stands for it, as it
  // does for an answer that reports no usage at all (a server that ignores include_usage); a
  // failed attempt that reported nothing costs nothing.
  void settle(const outrigger_request_view& request, const outrigger_settlement& s) override {
    auto* r = static_cast<Reservation*>(host().requestState(request.handle));
    if (!r) return;
    double tokens = double(s.usage.prompt_tokens) + double(s.usage.completion_tokens);
    if (tokens > 0 || s.cost_usd > 0) {
      r->used.usd += s.cost_usd;
      r->used.tokens += tokens;
    } else if ((s.code == OUTRIGGER_CODE_CANCELLED || s.code == OUTRIGGER_CODE_OK) && s.reached_upstream) {
      r->used.usd += r->per_attempt.usd;
      r->used.tokens += r->per_attempt.tokens;
    }
  }

 private:
  // A user, session or tag is the caller's to name: it is keyed within its tenant.
  std::string keyOf(const outrigger_request_view& r) const {
    const outrigger_metadata_view* md = r.metadata;
    if (!md) return {};
    const std::string& k = settings_.key;
    if (k == "tenant") return std::string(view(md->tenant));
    if (k == "user") return outrigger::limiter::tenantScoped(view(md->tenant), view(md->user));
    if (k == "session") return outrigger::limiter::tenantScoped(view(md->tenant), view(md->session));
    std::string_view tag = std::string_view(k).substr(4);
    for (size_t i = 0; i < md->tag_count; ++i) {
      if (view(md->tags[i].key) == tag) return outrigger::limiter::tenantScoped(view(md->tenant), view(md->tags[i].value));
    }
    // Untagged requests share their tenant's empty key, never another tenant's.
    return outrigger::limiter::tenantScoped(view(md->tenant), {});
  }

  // The reason is copied by the host when admit returns; admits on other workers run at the same
  // time, so it lives in a buffer of the calling thread.
  static outrigger_status refuse(outrigger_limit_result& result, outrigger_code code, uint32_t retry_after_ms,
                                 std::string reason) {
    thread_local std::string buffer;
    buffer = std::move(reason);
    result.code = code;
    result.retry_after_ms = retry_after_ms;
    result.reason = str(buffer);
    return OUTRIGGER_STOP;
  }

  Settings settings_;
  std::shared_ptr<Ledger> ledger_;
  uint64_t policy_stamp_ = 0;  // this instance's, for Ledger::usePolicy
};

}  // namespace

OUTRIGGER_PLUGIN("limiter_budget", "1.0.0", outrigger::plugin::typeOf<BudgetLimiter>())
