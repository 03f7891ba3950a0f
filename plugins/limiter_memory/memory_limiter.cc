// limiter.memory: requests per minute, LLM tokens per minute and requests in flight, per key (a
// tenant, a user, a session, a route, or one limit for all), for the whole process. The default
// limiter: a route's `tenant_rpm` and `tenant_tpm` are an instance of it, and a Redis limiter or a
// budget stacks with it or replaces it in the route's `limiters`.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "bounded_json.h"
#include "limit_table.h"

namespace {

using namespace outrigger::plugin;
using outrigger::limiter::LimitRecord;
using outrigger::limiter::LimitTable;
using outrigger::limiter::Rates;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "key": {"enum": ["tenant", "user", "session", "route", "global"], "description": "what each limit is per"},
    "rpm": {"type": "integer", "minimum": 0, "maximum": 100000000, "description": "requests per minute"},
    "tpm": {"type": "integer", "minimum": 0, "maximum": 4000000000, "description": "LLM tokens per minute"},
    "max_concurrent": {"type": "integer", "minimum": 0, "maximum": 1000000, "description": "requests in flight"},
    "max_keys": {"type": "integer", "minimum": 1, "maximum": 10000000, "description": "keys tracked at once"}
  }
})json";

enum class KeyBy { kTenant, kUser, kSession, kRoute, kGlobal };

// What an admitted request holds until it ends. The host destroys it once the request has ended
// (its request state's release), which settles the record: the request token goes back when no
// attempt started; the tokens are charged to what the answers used, to the estimate when an
// attempt was cut short in flight, and to nothing when every attempt failed; the slot frees.
struct Admission {
  Host host;
  std::shared_ptr<LimitRecord> record;
  bool took_request = false;
  bool holds_slot = false;
  double charged = 0;  // the prompt's estimate, charged at admission
  double used = 0;     // what answered attempts reported
  bool attempted = false, answered = false, cut_short = false;

  ~Admission() {
    uint64_t now = host.nowNs();
    if (took_request && !attempted) record->requests.charge(now, -1);
    double owed = answered ? used : cut_short ? charged : 0;
    if (owed != charged) record->tokens.charge(now, owed - charged);
    if (holds_slot) record->in_flight.fetch_sub(1);
  }
};

class MemoryLimiter final : public Limiter {
 public:
  static constexpr const char* kName = "memory";
  static constexpr const char* kDescription = "requests, tokens per minute and requests in flight per tenant (or user, session, route), in memory";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_SHARED_INSTANCE;

  MemoryLimiter(Host host, std::string_view name, std::string_view config) : Limiter(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    size_t max_keys = 10000;
    if (d.HasMember("key")) key_by_ = keyBy(d["key"].GetString());
    if (d.HasMember("rpm")) rates_.rpm = d["rpm"].GetUint();
    if (d.HasMember("tpm")) rates_.tpm = d["tpm"].GetUint();
    if (d.HasMember("max_concurrent")) rates_.max_concurrent = d["max_concurrent"].GetUint();
    if (d.HasMember("max_keys")) max_keys = d["max_keys"].GetUint64();
    table_ = outrigger::limiter::tableFor(std::string(name), max_keys);
  }

  outrigger_status admit(const outrigger_request_view& request, const outrigger_limit_estimate& estimate,
                         outrigger_limit_result& result) override {
    uint64_t now = host().nowNs();
    std::shared_ptr<LimitRecord> record = table_->find(keyOf(request), rates_, now);
    if (!record) return refuse(result, 1000, std::string("too many ") + keyName() + "s tracked at once");
    // Built in place: a temporary Admission would settle (as an empty admission) when destroyed.
    std::unique_ptr<Admission> a(new Admission{host(), record});
    if (rates_.rpm) {
      if (!record->requests.take(now)) {
        return refuse(result, std::max(record->requests.waitMs(now), 1u), overLimit("request rate limit", rates_.rpm, "per minute"));
      }
      a->took_request = true;
    }
    // An empty prompt still costs the upstream a token or so.
    double need = double(std::max<uint64_t>(estimate.prompt_tokens, 1));
    if (uint32_t wait = rates_.tpm ? record->tokens.waitMs(now, need) : 0) {
      return refuse(result, wait, overLimit("token rate limit", rates_.tpm, "per minute"));  // `a` gives the request token back
    }
    if (rates_.max_concurrent) {
      if (record->in_flight.fetch_add(1) >= rates_.max_concurrent) {
        record->in_flight.fetch_sub(1);
        return refuse(result, 0, overLimit("concurrency limit", rates_.max_concurrent, "in flight"));
      }
      a->holds_slot = true;
    }
    if (rates_.tpm) {
      record->tokens.charge(now, need);
      a->charged = need;
    }
    outrigger_status st = host().setRequestState(request.handle, std::move(a));
    return st == OUTRIGGER_OK ? OUTRIGGER_CONTINUE : st;
  }

  void settle(const outrigger_request_view& request, const outrigger_settlement& s) override {
    auto* a = static_cast<Admission*>(host().requestState(request.handle));
    if (!a) return;
    if (s.target.size) a->attempted = true;
    if (s.code == OUTRIGGER_CODE_OK) {
      a->answered = true;
      uint64_t reported = uint64_t(s.usage.prompt_tokens) + s.usage.completion_tokens;
      a->used += reported ? double(reported) : a->charged;  // no usage reported: the estimate stands
    } else if (s.code == OUTRIGGER_CODE_CANCELLED && s.reached_upstream) {
      a->cut_short = true;
    }
  }

 private:
  static KeyBy keyBy(std::string_view s) {
    if (s == "user") return KeyBy::kUser;
    if (s == "session") return KeyBy::kSession;
    if (s == "route") return KeyBy::kRoute;
    if (s == "global") return KeyBy::kGlobal;
    return KeyBy::kTenant;
  }

  const char* keyName() const {
    switch (key_by_) {
      case KeyBy::kUser: return "user";
      case KeyBy::kSession: return "session";
      case KeyBy::kRoute: return "route";
      case KeyBy::kGlobal: return "limiter";
      case KeyBy::kTenant: break;
    }
    return "tenant";
  }

  std::string_view keyOf(const outrigger_request_view& r) const {
    const outrigger_metadata_view* md = r.metadata;
    switch (key_by_) {
      case KeyBy::kTenant: return md ? view(md->tenant) : std::string_view();
      case KeyBy::kUser: return md ? view(md->user) : std::string_view();
      case KeyBy::kSession: return md ? view(md->session) : std::string_view();
      case KeyBy::kRoute: return view(r.route);
      case KeyBy::kGlobal: break;
    }
    return {};
  }

  std::string overLimit(const char* what, uint32_t limit, const char* unit) const {
    return std::string(keyName()) + " over its " + what + " (" + std::to_string(limit) + " " + unit + ")";
  }

  // The reason is copied by the host when admit returns; admits on other workers run at the same
  // time, so it lives in a buffer of the calling thread.
  static outrigger_status refuse(outrigger_limit_result& result, uint32_t retry_after_ms, std::string reason) {
    thread_local std::string buffer;
    buffer = std::move(reason);
    result.code = OUTRIGGER_CODE_RESOURCE_EXHAUSTED;
    result.retry_after_ms = retry_after_ms;
    result.reason = str(buffer);
    return OUTRIGGER_STOP;
  }

  KeyBy key_by_ = KeyBy::kTenant;
  Rates rates_;
  std::shared_ptr<LimitTable> table_;
};

}  // namespace

OUTRIGGER_PLUGIN("limiter_memory", "1.0.0", outrigger::plugin::typeOf<MemoryLimiter>())
