// The provider phase of a request: where and when each attempt goes. The decisions are the
// AttemptPlanner's (sidecar/resilience); this file asks it, applies tenant rate limits, records
// every decision in the request's spans and counters, and arms the backoff timer. Starting the
// attempt itself (the plugin hook) stays with the other stages in request_context.cc.
#include <string>
#include <vector>

#include "chain/request_context.h"
#include "common/clock.h"

namespace outrigger::chain {
namespace {
std::string_view sv(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }
}  // namespace

bool RequestContext::runProvider() {
  if (!planner_) {
    if (route_->targets.empty()) {
      // A route built without targets (by hand, in tests): its provider is the only target.
      implicit_targets_.push_back({route_->provider, "", 1, 0, 0, 0, route_->provider.instance->name() + "/*"});
    }
    std::vector<resilience::TargetView> targets;
    for (const Target& t : routeTargets()) {
      resilience::TargetHealth& h = engine_.health().target(t.key, route_->policy);
      h.rpm.setRate(t.rpm_per_worker);
      h.tpm.setRate(t.tpm_per_worker);
      targets.push_back({t.key, t.weight, &h.breaker, h.latency.seen() ? h.latency.ms() : -1.0, &h.budget,
                         &h.in_flight, t.max_concurrent, &h.rpm, &h.tpm});
    }
    planner_ = std::make_unique<resilience::AttemptPlanner>(route_->policy, std::move(targets), deadline_ns_,
                                                            engine_.nextSeed());
  }
  if (route_->policy.tenant_rpm && !tenantAdmitted()) return false;
  resilience::Decision d = planner_->first(monoNowNs());
  recordDecision(d);
  if (d.kind == resilience::Decision::Kind::kGiveUp) {
    if (d.at_limit) {
      end(Code::kResourceExhausted, "every upstream target is at its concurrency or rate limit", "router", true,
          d.retry_after_ms);
    }
    else end(Code::kUnavailable, "no upstream target available: every circuit breaker is open", "router", true,
             d.retry_after_ms);
    return false;
  }
  return startAttempt(d.target);
}

void RequestContext::recordDecision(const resilience::Decision& d) {
  uint64_t now = monoNowNs();
  const std::string& key = routeTargets()[d.target].key;
  spans_.push_back({"resilience", d.kind == resilience::Decision::Kind::kStart ? key : std::string(),
                    now, uint64_t(d.delay_ms) * 1000000, d.note});
  auto& c = engine_.counters();
  if (d.note.rfind("retry", 0) == 0) c.retries.fetch_add(1, std::memory_order_relaxed);
  else if (d.note.rfind("fallback", 0) == 0) c.fallbacks.fetch_add(1, std::memory_order_relaxed);
  else if (d.note.rfind("give up", 0) == 0) c.give_ups.fetch_add(1, std::memory_order_relaxed);
  if (d.note.find("breaker open") != std::string::npos) c.breaker_skips.fetch_add(1, std::memory_order_relaxed);
}

// The tenant's requests-per-minute share on this route; ends the request when it is spent.
bool RequestContext::tenantAdmitted() {
  std::string tenant(sv(metadata_.tenant));
  resilience::RpmBucket* bucket = engine_.health().tenant(route_->name, tenant, route_->policy.tenant_rpm);
  uint64_t now = monoNowNs();
  if (bucket && bucket->take(now)) return true;
  uint32_t wait = bucket ? bucket->waitMs(now) : 1000;
  spans_.push_back({"resilience", "", now, 0, "give up: tenant '" + tenant + "' over its rate limit"});
  engine_.counters().give_ups.fetch_add(1, std::memory_order_relaxed);
  end(Code::kResourceExhausted, bucket ? "tenant over its request rate limit" : "too many tenants tracked", "router",
      /*retryable=*/true, wait);
  return false;
}

void RequestContext::endAttempt() {
  if (attempt_health_) --attempt_health_->in_flight;
  attempt_health_ = nullptr;
}

void RequestContext::onAttemptTimer(void* user_data, outrigger_status status) {
  auto* self = static_cast<RequestContext*>(user_data);
  if (status != OUTRIGGER_OK || self->ended_) return;  // the request ended during the backoff
  if (self->startAttempt(self->next_target_)) self->advance();
}

}  // namespace outrigger::chain
