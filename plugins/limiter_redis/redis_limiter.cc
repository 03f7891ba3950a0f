// limiter.redis: requests per minute, LLM tokens per minute, requests in flight and a USD budget
// per key (tenant, user, session, route, or one for all) that hold across every sidecar sharing
// one Redis: each admission is one atomic script that reserves what the request may use, and its
// end settles the reservation to what it did use. When Redis cannot answer, the instance either
// refuses (UNAVAILABLE, the default: a limit that cannot be checked is not a limit) or falls back
// to in-process buckets holding `local_fraction` of each limit; both are counted and logged.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include <xxhash.h>

#include "bounded_json.h"
#include "breaker_share.h"
#include "budget_window.h"
#include "fleet_admission.h"
#include "limit_scripts.h"
#include "limit_key.h"
#include "local_admission.h"
#include "lost_admissions.h"
#include "redis_client.h"

namespace {

using namespace outrigger::plugin;
using outrigger::limiter::KeyBy;
using outrigger::limiter::keyBy;
using outrigger::limiter::keyName;
using outrigger::limiter::keyOf;
using outrigger::limiter::AdmissionState;
using outrigger::limiter::FleetAdmission;
using outrigger::limiter::FleetCounters;
using outrigger::limiter::FleetLimits;
using outrigger::redis::hex64;
using outrigger::redis::RedisClient;
using outrigger::redis::RedisResult;
using outrigger::redis::RedisScript;

const std::string kSchemaText = std::string(R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "key": {"enum": ["tenant", "user", "session", "route", "global"], "description": "what each limit is per"},
    "rpm": {"type": "integer", "minimum": 0, "maximum": 100000000, "description": "requests per minute, fleet-wide"},
    "tpm": {"type": "integer", "minimum": 0, "maximum": 4000000000, "description": "LLM tokens per minute, fleet-wide"},
    "max_concurrent": {"type": "integer", "minimum": 0, "maximum": 1000000, "description": "requests in flight, fleet-wide"},
    "budget_usd": {"type": "number", "minimum": 0, "maximum": 1e12, "description": "spend per window, fleet-wide"},
    "budget_window": {"enum": ["daily", "monthly"], "description": "calendar window of budget_usd (UTC)"},
    "default_max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 100000000, "description": "answer tokens reserved in USD when neither max_tokens nor the model's max_output caps the answer"},
    "lease_ms": {"type": "integer", "minimum": 1000, "maximum": 86400000, "description": "how long a dead sidecar's slots and reservations are held"},
    "on_unavailable": {"enum": ["fail_closed", "local"], "description": "when Redis cannot answer: refuse, or use local limits"},
    "local_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "share of each limit one process allows alone (local fallback)"},
    "max_keys": {"type": "integer", "minimum": 1, "maximum": 10000000, "description": "keys the local fallback tracks at once"},
    "share_breakers": {"type": "boolean", "description": "share the process's circuit breakers with the fleet"},
    "breaker_poll_ms": {"type": "integer", "minimum": 20, "maximum": 60000, "description": "how often breakers are published and read"},
    "redis": )json") + outrigger::redis::kRedisSettingsSchema + R"json(
  }
})json";

// 128 random bits: names one admission's slot and reservation in Redis.
std::string admissionId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return hex64(rng()) + hex64(rng());
}

int64_t unixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

uint64_t requestId(outrigger_request r) { return (uint64_t(r.generation) << 32) | r.slot; }

class RedisLimiter final : public Limiter {
 public:
  static constexpr const char* kName = "redis";
  static constexpr const char* kDescription = "requests and tokens per minute, requests in flight and a USD budget per key, shared by every sidecar through Redis";
  static inline const char* const kConfigSchema = kSchemaText.c_str();
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  RedisLimiter(Host host, std::string_view name, std::string_view config) : Limiter(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    if (d.HasMember("key")) key_by_ = keyBy(d["key"].GetString());
    if (d.HasMember("rpm")) limits_.rpm = d["rpm"].GetUint();
    if (d.HasMember("tpm")) limits_.tpm = d["tpm"].GetUint();
    if (d.HasMember("max_concurrent")) limits_.max_concurrent = d["max_concurrent"].GetUint();
    if (d.HasMember("budget_usd")) limits_.budget_usd = d["budget_usd"].GetDouble();
    if (d.HasMember("budget_window") && std::string_view(d["budget_window"].GetString()) == "monthly") {
      window_.kind = outrigger::budget::WindowKind::kMonthly;
    }
    if (d.HasMember("default_max_output_tokens")) default_max_output_ = d["default_max_output_tokens"].GetUint64();
    if (d.HasMember("lease_ms")) lease_ms_ = d["lease_ms"].GetUint();
    if (d.HasMember("on_unavailable")) fall_back_locally_ = std::string_view(d["on_unavailable"].GetString()) == "local";
    double fraction = d.HasMember("local_fraction") ? d["local_fraction"].GetDouble() : 1.0;
    local_max_keys_ = d.HasMember("max_keys") ? d["max_keys"].GetUint64() : 10000;
    auto share = [&](uint32_t limit) { return limit ? std::max<uint32_t>(1, uint32_t(limit * fraction)) : 0u; };
    local_rates_ = {share(limits_.rpm), share(limits_.tpm), share(limits_.max_concurrent)};
    local_table_ = outrigger::limiter::tableFor(std::string(name) + "#local", local_max_keys_);
    outrigger::redis::RedisSettings settings;
    if (d.HasMember("redis")) settings = outrigger::redis::parseRedisSettings(d["redis"]);
    redis_ = std::make_shared<RedisClient>(host, std::move(settings), stats_);
    redis_->start();
    lost_ = std::make_shared<outrigger::limiter::LostAdmissions>(host, redis_, settle_script_, counters_, lease_ms_);
    if (d.HasMember("share_breakers") && d["share_breakers"].GetBool()) {
      uint32_t poll_ms = d.HasMember("breaker_poll_ms") ? d["breaker_poll_ms"].GetUint() : 200;
      breakers_ = std::make_unique<outrigger::limiter::BreakerShare>(host, redis_, poll_ms, breaker_counters_);
      breakers_->start();
    }
  }

  ~RedisLimiter() override {
    for (auto& [id, cancelled] : pending_) *cancelled = true;
  }

  outrigger_status admit(const outrigger_request_view& request, const outrigger_limit_estimate& estimate,
                         outrigger_limit_result& result) override {
    int64_t now_ms = unixMs();
    auto a = std::make_unique<FleetAdmission>();
    a->redis = redis_;
    a->lost = lost_;
    a->counters = counters_;
    a->settle_script = &settle_script_;
    a->limits = limits_;
    a->id = admissionId();
    std::string key = keyOf(key_by_, request);
    std::string base = redis_->key("limit:{" + name() + ":" + hex64(XXH3_64bits(key.data(), key.size())) + "}");
    int64_t window = window_.bucketStart(now_ms);
    std::string budget = base + ":budget:" + std::to_string(window);
    a->keys = {base + ":rate", base + ":slots", budget, budget + ":leases", base + ":released:" + a->id};
    a->budget_ttl_s = window_.bucketSeconds(window) + 3600;
    // Tokens reserved: the prompt and all the answer may add, so a burst of admissions cannot
    // overshoot by their answers (the settle gives back what was not used). The answer's part
    // fills the bucket at most: a caller's max_tokens of four billion would otherwise leave the
    // key in debt for years when the attempt is cut short (which settles to the reservation).
    const uint64_t prompt = std::max<uint64_t>(estimate.prompt_tokens, 1);
    uint64_t answer = estimate.max_completion_tokens;
    if (limits_.tpm) answer = std::min<uint64_t>(answer, prompt < limits_.tpm ? limits_.tpm - prompt : 0);
    a->tally.charged = double(prompt + answer);
    a->tally.cut_short_usd = singleAttemptUsd(estimate);
    double reserve_usd = limits_.budget_usd > 0 ? reserveUsd(estimate) : 0;
    if (limits_.budget_usd > 0 && singleAttemptUsd(estimate) > limits_.budget_usd) {
      result.code = OUTRIGGER_CODE_FAILED_PRECONDITION;  // no window frees room for it: not retryable
      thread_local std::string reason;  // the host copies it when admit returns
      reason = overLimit(window_.describe() + " budget", "$" + number(limits_.budget_usd) +
                                                           ": this request's worst case of $" +
                                                           number(singleAttemptUsd(estimate)) + " exceeds it");
      result.reason = str(reason);
      return OUTRIGGER_STOP;
    }
    // Every attempt together may be more than the whole budget: the request then reserves it all.
    reserve_usd = std::min(reserve_usd, std::max(singleAttemptUsd(estimate), limits_.budget_usd));
    int64_t retry_budget_ms = window_.expiresMs(window) - now_ms;

    std::vector<std::string> args = {std::to_string(limits_.rpm), std::to_string(limits_.tpm),
                                     std::to_string(uint64_t(a->tally.charged)), std::to_string(limits_.max_concurrent),
                                     number(limits_.budget_usd), number(reserve_usd), a->id, std::to_string(lease_ms_),
                                     std::to_string(a->budget_ttl_s)};
    std::vector<std::string> keys = a->keys;
    auto cancelled = std::make_shared<bool>(false);
    pending_[requestId(request.handle)] = cancelled;
    Host h = host();
    outrigger_request handle = request.handle;
    // The request's fields are gone once admit returns: copy what the fallback needs.
    outrigger_limit_estimate est = estimate;
    std::string local_key(key);
    // std::function wants a copyable callback; the admission moves on from the box.
    auto box = std::make_shared<std::unique_ptr<FleetAdmission>>(std::move(a));
    redis_->eval(admit_script_, keys, args,
                 [this, h, handle, cancelled, est, local_key, retry_budget_ms, box](const RedisResult& r) {
                   std::unique_ptr<FleetAdmission> admission = std::move(*box);
                   if (*cancelled) {  // the request ended first: settle only what Redis reserved
                     admission->reserved = admittedBy(r);
                     if (answerLost(r)) lost_->add(outrigger::limiter::LostAdmissions::releaseOf(*admission));
                     return;
                   }
                   pending_.erase(requestId(handle));
                   decide(h, handle, r, std::move(admission), est, local_key, retry_budget_ms);
                 });
    (void)result;
    return OUTRIGGER_PENDING;
  }

  void settle(const outrigger_request_view& request, const outrigger_settlement& s) override {
    if (auto* state = static_cast<AdmissionState*>(host().requestState(request.handle))) state->settle(s);
  }

  void onCancel(outrigger_request request) override {
    auto it = pending_.find(requestId(request));
    if (it == pending_.end()) return;
    *it->second = true;
    pending_.erase(it);
  }

  void reportMetrics(const MetricsWriter& out) override {
    const FleetCounters& c = *counters_;
    const char* decisions = "limiter.redis admissions by outcome.";
    out.counter("redis_limiter_decisions_total", decisions, {{"outcome", "admitted"}}, double(c.admitted));
    out.counter("redis_limiter_decisions_total", decisions, {{"outcome", "refused_rpm"}}, double(c.refused_rpm));
    out.counter("redis_limiter_decisions_total", decisions, {{"outcome", "refused_tpm"}}, double(c.refused_tpm));
    out.counter("redis_limiter_decisions_total", decisions, {{"outcome", "refused_concurrency"}}, double(c.refused_concurrency));
    out.counter("redis_limiter_decisions_total", decisions, {{"outcome", "refused_budget"}}, double(c.refused_budget));
    const char* unavailable = "Admissions Redis could not decide, by what the limiter did.";
    out.counter("redis_limiter_unavailable_total", unavailable, {{"action", "fail_closed"}}, double(c.redis_failed_closed));
    out.counter("redis_limiter_unavailable_total", unavailable, {{"action", "local"}}, double(c.local_fallbacks));
    out.counter("redis_limiter_settle_failures_total", "Settlements Redis did not take (leases expire them).", {}, double(c.settle_failures));
    out.counter("redis_limiter_unsettled_usd_total", "Spending not recorded in Redis because a settlement failed.", {},
                double(c.unsettled_micro_usd) / 1e6);
    const char* lost = "Admissions whose admit or settle got no answer from Redis, by what became of their release by id.";
    out.counter("redis_limiter_lost_admissions_total", lost, {{"release", "sent"}}, double(c.lost_admissions));
    out.counter("redis_limiter_lost_admissions_total", lost, {{"release", "taken"}}, double(c.lost_released));
    out.counter("redis_limiter_lost_admissions_total", lost, {{"release", "dropped"}}, double(c.lost_releases_dropped));
    if (breakers_) {
      const char* shared = "Circuit breakers shared through Redis, by direction.";
      out.counter("redis_breakers_shared_total", shared, {{"direction", "published"}}, double(breaker_counters_->published));
      out.counter("redis_breakers_shared_total", shared, {{"direction", "applied"}}, double(breaker_counters_->applied));
    }
    outrigger::redis::reportRedisStats(out, *stats_);
  }

 private:
  void decide(Host h, outrigger_request handle, const RedisResult& r, std::unique_ptr<FleetAdmission> a,
              const outrigger_limit_estimate& est, const std::string& local_key, int64_t retry_budget_ms) {
    if (r.ok() && r.reply->type == REDIS_REPLY_ARRAY && r.reply->elements >= 1) {
      noteRedisBack();
      if (admittedBy(r)) {
        a->reserved = true;
        counters_->admitted.fetch_add(1);
        auto state = std::make_unique<AdmissionState>();
        state->fleet = std::move(a);
        if (h.setRequestState(handle, std::move(state)) == OUTRIGGER_OK) h.limiterDone(handle, OUTRIGGER_CODE_OK, 0, "");
        return;  // a request that ended meanwhile: the state settled as it was destroyed
      }
      refuse(h, handle, r.reply, retry_budget_ms);
      return;
    }
    // Redis did not decide. When its answer was lost, it may have reserved all the same.
    if (answerLost(r)) lost_->add(outrigger::limiter::LostAdmissions::releaseOf(*a));
    a.reset();
    std::string why(r.why());
    noteRedisDown(why);
    if (!fall_back_locally_) {
      counters_->redis_failed_closed.fetch_add(1);
      h.limiterDone(handle, OUTRIGGER_CODE_UNAVAILABLE, 1000, "limiter.redis cannot reach Redis (" + why + ")");
      return;
    }
    counters_->local_fallbacks.fetch_add(1);
    auto state = std::make_unique<AdmissionState>();
    outrigger::limiter::LocalRefusal refusal;
    local_table_->useMaxKeys(local_max_keys_);
    if (!outrigger::limiter::admitLocally(h, *local_table_, local_rates_, local_key, keyName(key_by_), est, &state->local, &refusal)) {
      h.limiterDone(handle, OUTRIGGER_CODE_RESOURCE_EXHAUSTED, refusal.retry_after_ms, refusal.reason + " (local fallback)");
      return;
    }
    if (h.setRequestState(handle, std::move(state)) == OUTRIGGER_OK) h.limiterDone(handle, OUTRIGGER_CODE_OK, 0, "");
  }

  // The script may have run: it was sent, and no answer came in time (a stalled or slow Redis
  // runs what it already read). A connection that broke is left to the lease: most often the
  // server went with what it held.
  static bool answerLost(const RedisResult& r) { return r.failure == outrigger::redis::RedisFailure::kTimeout; }

  static bool admittedBy(const RedisResult& r) {
    return r.ok() && r.reply->type == REDIS_REPLY_ARRAY && r.reply->elements >= 1 &&
           r.reply->element[0]->type == REDIS_REPLY_INTEGER && r.reply->element[0]->integer == 1;
  }

  void refuse(Host h, outrigger_request handle, const redisReply* reply, int64_t retry_budget_ms) {
    auto text = [&](size_t i) {
      return i < reply->elements && reply->element[i]->type == REDIS_REPLY_STRING
                 ? std::string(reply->element[i]->str, reply->element[i]->len)
                 : std::string();
    };
    std::string what = text(1);
    uint32_t retry = reply->elements > 2 ? uint32_t(std::max<long long>(0, reply->element[2]->integer)) : 0;
    std::string reason;
    if (what == "rpm") {
      counters_->refused_rpm.fetch_add(1);
      reason = overLimit("request rate limit", std::to_string(limits_.rpm) + " per minute");
    } else if (what == "tpm") {
      counters_->refused_tpm.fetch_add(1);
      reason = overLimit("token rate limit", std::to_string(limits_.tpm) + " per minute");
    } else if (what == "concurrency") {
      counters_->refused_concurrency.fetch_add(1);
      reason = overLimit("concurrency limit", std::to_string(limits_.max_concurrent) + " in flight");
    } else {
      counters_->refused_budget.fetch_add(1);
      retry = uint32_t(std::clamp<int64_t>(retry_budget_ms, 0, UINT32_MAX));
      reason = overLimit(window_.describe() + " budget", "$" + number(limits_.budget_usd) + ", $" + text(3) + " spent or reserved");
    }
    h.limiterDone(handle, OUTRIGGER_CODE_RESOURCE_EXHAUSTED, retry, reason);
  }

  // One attempt's worst case: the host's when it could price every target; with no cap on the
  // answer known (no max_tokens, no max_output in the table), default_max_output_tokens of it;
  // else the priced part of the prompt (an unpriced model is settled at its reported cost).
  double singleAttemptUsd(const outrigger_limit_estimate& e) const {
    if (e.hdr.struct_size < OUTRIGGER_SIZE_THROUGH(outrigger_limit_estimate, unpriced)) return 0;
    if (e.max_cost_usd > 0) return e.max_cost_usd;
    const bool no_answer = e.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_limit_estimate, no_completion) &&
                           e.no_completion;
    return e.prompt_cost_usd + (no_answer ? 0 : double(default_max_output_) * e.output_price_usd);
  }
  // Re-asks and hedges are attempts the route may bill too (billed_attempts): each is reserved.
  double reserveUsd(const outrigger_limit_estimate& e) const {
    bool knows_attempts = e.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_limit_estimate, billed_attempts);
    double attempts = knows_attempts && e.billed_attempts > 1 ? e.billed_attempts : 1;
    return singleAttemptUsd(e) * attempts;
  }

  void noteRedisDown(const std::string& why) {
    if (redis_down_) return;
    redis_down_ = true;
    host().log(OUTRIGGER_LOG_WARN, "limiter.redis " + name() + ": Redis cannot decide admissions (" + why + "); " +
                                       (fall_back_locally_ ? "using local limits" : "refusing requests"));
  }
  void noteRedisBack() {
    if (!redis_down_) return;
    redis_down_ = false;
    host().log(OUTRIGGER_LOG_INFO, "limiter.redis " + name() + ": Redis decides admissions again");
  }

  static std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    return buf;
  }

  std::string overLimit(const std::string& what, const std::string& limit) const {
    return std::string(keyName(key_by_)) + " over its fleet-wide " + what + " (" + limit + ")";
  }

  KeyBy key_by_ = KeyBy::kTenant;
  FleetLimits limits_;
  outrigger::budget::WindowSpec window_;
  uint32_t lease_ms_ = 600000;
  uint64_t default_max_output_ = 4096;  // as limiter.budget's
  bool fall_back_locally_ = false;
  bool redis_down_ = false;
  outrigger::limiter::Rates local_rates_;
  std::shared_ptr<outrigger::limiter::LimitTable> local_table_;
  size_t local_max_keys_ = 10000;
  RedisScript admit_script_{outrigger::limiter::kAdmitScript};
  RedisScript settle_script_{outrigger::limiter::kSettleScript};
  std::shared_ptr<outrigger::redis::RedisStats> stats_ = std::make_shared<outrigger::redis::RedisStats>();
  std::shared_ptr<FleetCounters> counters_ = std::make_shared<FleetCounters>();
  std::map<uint64_t, std::shared_ptr<bool>> pending_;  // admits waiting for Redis, by request
  std::shared_ptr<RedisClient> redis_;
  std::shared_ptr<outrigger::limiter::BreakerShareCounters> breaker_counters_ =
      std::make_shared<outrigger::limiter::BreakerShareCounters>();
  std::unique_ptr<outrigger::limiter::BreakerShare> breakers_;  // before redis_ goes
  std::shared_ptr<outrigger::limiter::LostAdmissions> lost_;     // before redis_ goes
};

}  // namespace

OUTRIGGER_PLUGIN("limiter_redis", "1.0.0", outrigger::plugin::typeOf<RedisLimiter>())
