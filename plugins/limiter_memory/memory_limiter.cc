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
#include "limit_key.h"
#include "local_admission.h"

namespace {

using namespace outrigger::plugin;
using outrigger::limiter::KeyBy;
using outrigger::limiter::keyBy;
using outrigger::limiter::keyName;
using outrigger::limiter::keyOf;
using outrigger::limiter::LocalAdmission;
using outrigger::limiter::LocalRefusal;
using outrigger::limiter::admitLocally;
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
    if (d.HasMember("key")) key_by_ = keyBy(d["key"].GetString());
    if (d.HasMember("rpm")) rates_.rpm = d["rpm"].GetUint();
    if (d.HasMember("tpm")) rates_.tpm = d["tpm"].GetUint();
    if (d.HasMember("max_concurrent")) rates_.max_concurrent = d["max_concurrent"].GetUint();
    if (d.HasMember("max_keys")) max_keys_ = d["max_keys"].GetUint64();
    table_ = outrigger::limiter::tableFor(std::string(name), max_keys_);
  }

  outrigger_status admit(const outrigger_request_view& request, const outrigger_limit_estimate& estimate,
                         outrigger_limit_result& result) override {
    std::unique_ptr<LocalAdmission> a;
    LocalRefusal refusal;
    table_->useMaxKeys(max_keys_);
    if (!admitLocally(host(), *table_, rates_, keyOf(key_by_, request), keyName(key_by_), estimate, &a, &refusal)) {
      return refuse(result, refusal.retry_after_ms, std::move(refusal.reason));
    }
    outrigger_status st = host().setRequestState(request.handle, std::move(a));
    return st == OUTRIGGER_OK ? OUTRIGGER_CONTINUE : st;
  }

  void settle(const outrigger_request_view& request, const outrigger_settlement& s) override {
    if (auto* a = static_cast<LocalAdmission*>(host().requestState(request.handle))) a->tally.add(s);
  }

 private:
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
  size_t max_keys_ = 10000;
  std::shared_ptr<LimitTable> table_;
};

}  // namespace

OUTRIGGER_PLUGIN("limiter_memory", "1.0.0", outrigger::plugin::typeOf<MemoryLimiter>())
