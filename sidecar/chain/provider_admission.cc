// Admission to the provider step: where and when the first attempt goes. The decisions are the
// AttemptPlanner's (sidecar/resilience); this file asks it (per-tenant limits come before, as a
// limiter step), waits in the route's limit queue or refuses when everything is over its limits, records every decision in
// the request's spans and counters, and serves the route's degraded answer when no target can
// be tried. Attempts themselves are in provider_stage.cc; hedging in provider_hedge.cc.
#include <string>
#include <vector>

#include "chain/provider_stage.h"
#include "chain/request_context.h"
#include "common/clock.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {
constexpr const char* kTargetsLimited = "every upstream target is at its concurrency or rate limit";
}  // namespace

void ProviderStage::preparePlanner() {
  if (planner_) return;
  if (ctx_.route_->targets.empty()) {
    // A route built without targets (by hand, in tests): its provider is the only target.
    implicit_targets_.push_back({ctx_.route_->provider, "", 1, 0, 0, 0, ctx_.route_->provider.instance->name() + "/*",
                                 resilience::targetPolicyOf(ctx_.route_->policy)});
  }
  // A route without a breaker of its own behaves as if there were none: another route's trip of
  // a shared target does not refuse its requests, and its failures do not trip that route's.
  const bool breaker = resilience::hasBreaker(ctx_.route_->policy.breaker);
  std::vector<resilience::TargetView> targets;
  for (const Target& t : routeTargets()) {
    // The chain's targets were configured when it was set (Engine::setChain); a hand-built
    // route's implicit one is configured here, where it is made.
    resilience::TargetHealth& h = implicit_targets_.empty() ? ctx_.engine_.health().target(t.key)
                                                            : ctx_.engine_.health().configure(t.key, t.shared, 0, 0);
    targets.push_back({t.key, t.weight, breaker ? &h.breaker : nullptr, h.latency.seen() ? h.latency.ms() : -1.0, &h.budget,
                       &h.in_flight, t.max_concurrent, &h.rpm, &h.tpm, t.stage.instance.get(),
                       t.tpm ? promptTokensFor(t) : 1.0});
  }
  planner_ = std::make_unique<resilience::AttemptPlanner>(ctx_.route_->policy, std::move(targets), ctx_.deadline_ns_,
                                                          ctx_.engine_.nextSeed());
}

// Counted only for a target with a tokens-per-minute limit: nothing else charges it up front.
double ProviderStage::promptTokensFor(const Target& target) {
  if (ctx_.embed_) return double(ctx_.embedTokenEstimate());
  uint64_t tokens = ctx_.prompt_tokens_.count(ctx_.view_, ctx_.modelFor(target));
  return tokens ? double(tokens) : 1.0;
}

void ProviderStage::recountTokenNeeds() {
  if (!planner_) return;  // counted when the planner is made
  const std::vector<Target>& targets = routeTargets();
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].tpm) planner_->setTokenNeed(i, promptTokensFor(targets[i]));
  }
}

// What an answer used, from its usage report; a provider that reports none (all zeros) leaves
// the estimate standing rather than making the call free.
double ProviderStage::usedTokens(uint64_t prompt, uint64_t completion, double estimate) {
  return prompt + completion > 0 ? double(prompt + completion) : estimate;
}

void ProviderStage::settleTokens(TokenCharge* charge, double actual) {
  if (charge->bucket) charge->bucket->charge(monoNowNs(), actual - charge->charged);
  *charge = {};
}

bool ProviderStage::run() {
  preparePlanner();
  // Arrival order: while others wait for this route, a new request queues behind them (it is
  // tried on the loop's next turn, after them). A full queue does not refuse it without a try:
  // waiters held back by their own tenant's limit would otherwise lock every other tenant out.
  if (othersWaiting(*ctx_.route_, ctx_.engine_)) {
    onLimited(0, "others are waiting for this route");
    if (seat_.seated()) seat_.queue()->wakeIn(0);
    return false;
  }
  uint32_t wait = 0;
  std::string why;
  switch (admit(&wait, &why)) {
    case Admission::kStartedDone: return true;
    case Admission::kStartedPending:
    case Admission::kEnded: return false;
    case Admission::kLimited: break;
  }
  onLimited(wait, why);
  return false;
}

ProviderStage::Admission ProviderStage::admit(uint32_t* wait_ms, std::string* why) {
  uint64_t now = monoNowNs();
  resilience::Decision d = planner_->first(now);
  if (d.kind == resilience::Decision::Kind::kGiveUp) {
    if (d.at_limit) {
      *wait_ms = d.retry_after_ms;
      *why = d.note;
      return Admission::kLimited;
    }
    recordDecision(d);
    breakers_open_ = true;
    if (serveFallbackAnswer("no upstream target available: every circuit breaker is open")) {
      ctx_.skipAllSteps();
      return Admission::kStartedDone;
    }
    ctx_.end(Code::kUnavailable, "no upstream target available: every circuit breaker is open", "router", true,
        d.retry_after_ms);
    return Admission::kEnded;
  }
  if (seat_.seated()) seat_.leave("admitted");
  recordDecision(d);
  return startAttempt(d.target) ? Admission::kStartedDone : Admission::kStartedPending;
}

void ProviderStage::onLimited(uint32_t wait_ms, const std::string& why) {
  const resilience::LimitPolicy& limits = ctx_.route_->policy.limits;
  std::string message = kTargetsLimited;
  if (!limits.queue) return failLimited(wait_ms, "give up: " + why, message);
  if (!seat_.join(wait_ms, why)) {
    size_t waiting = ctx_.engine_.limitQueue(ctx_.route_->name).size();
    return failLimited(wait_ms ? wait_ms : 1000,
                       "give up: the route's limit queue is full (" + std::to_string(waiting) + " waiting); " + why,
                       message + "; the wait queue is full");
  }
}

void ProviderStage::failLimited(uint32_t wait_ms, const std::string& note, const std::string& message) {
  ctx_.spans_.push_back({"resilience", "", monoNowNs(), 0, note});
  ctx_.engine_.counters().give_ups.fetch_add(1, std::memory_order_relaxed);
  ctx_.end(Code::kResourceExhausted, message, "router", /*retryable=*/true, wait_ms);
}

bool ProviderStage::tryAgain(uint32_t* wake_ms) {
  if (ctx_.ended_) return true;
  std::string why;
  uint32_t wait = 0;
  switch (admit(&wait, &why)) {
    case Admission::kStartedDone:
      ctx_.advance();
      return true;
    case Admission::kStartedPending:
    case Admission::kEnded:
      return true;
    case Admission::kLimited:
      break;
  }
  seat_.stillWaiting(wait, why);
  *wake_ms = wait;
  return false;
}

void ProviderStage::waitExpired() { seat_.expire(kTargetsLimited, "router"); }

void ProviderStage::recordDecision(const resilience::Decision& d) {
  uint64_t now = monoNowNs();
  const std::string& key = routeTargets()[d.target].key;
  ctx_.spans_.push_back({"resilience", d.kind == resilience::Decision::Kind::kStart ? key : std::string(),
                    now, uint64_t(d.delay_ms) * 1000000, d.note});
  auto& c = ctx_.engine_.counters();
  if (d.note.rfind("retry", 0) == 0) c.retries.fetch_add(1, std::memory_order_relaxed);
  else if (d.note.rfind("fallback", 0) == 0) c.fallbacks.fetch_add(1, std::memory_order_relaxed);
  else if (d.note.rfind("give up", 0) == 0) c.give_ups.fetch_add(1, std::memory_order_relaxed);
  if (d.note.find("breaker open") != std::string::npos) c.breaker_skips.fetch_add(1, std::memory_order_relaxed);
}

// Every target failed, or every breaker is open: the route's degraded answer instead of the
// error, when it has one and nothing has reached the client yet. No output guardrail or cache
// sees it (it is the operator's text, and must not be served again as if a provider said it).
bool ProviderStage::serveFallbackAnswer(const std::string& why) {
  if (!ctx_.route_->fallback_answer || ctx_.chunk_seq_ > 0 || ctx_.embed_) return false;
  ctx_.degraded_ = true;
  ctx_.provider_code_ = Code::kOk;
  ctx_.provider_message_ = why;
  ctx_.content_ = *ctx_.route_->fallback_answer;
  ctx_.tool_calls_.clear();
  ctx_.finish_reason_ = "stop";
  ctx_.answer_model_.clear();
  ctx_.answer_meta_ = {};  // the route's own answer: nothing an upstream said applies
  ctx_.spans_.push_back({"fallback", ctx_.route_->name, monoNowNs(), 0, "degraded answer: " + why});
  if (ctx_.view_.stream) ctx_.sendChunk(ctx_.content_, nullptr);
  return true;
}

}  // namespace outrigger::chain
