// Hedging for unary calls: when the first attempt has not answered after the route's
// `hedge.delay_ms`, a second attempt starts on the next admitted target of another provider
// instance (AttemptPlanner::hedge). The first success wins and the other attempt is cancelled at
// once (its provider's cancel hook aborts its transfer); a failure of one while the other runs
// does not end the request. Streaming calls are never hedged: chunks already sent to the client
// could not be taken back.
#include <string>

#include "chain/request_context.h"
#include "common/clock.h"

namespace outrigger::chain {

void RequestContext::armHedge() {
  if (!route_->policy.hedge.delay_ms || view_.stream || attempt_number_ != 1 || routeTargets().size() < 2) return;
  setTimer(route_->policy.hedge.delay_ms, &RequestContext::onHedgeTimer, this);
}

void RequestContext::onHedgeTimer(void* user_data, outrigger_status status) {
  auto* self = static_cast<RequestContext*>(user_data);
  // Only while the first attempt is still the one running.
  if (status != OUTRIGGER_OK || self->ended_ || self->waiting_ != Waiting::kProvider || self->attempt_number_ != 1 ||
      self->hedge_.target) {
    return;
  }
  resilience::Decision d = self->planner_->hedge(monoNowNs());
  self->spans_.push_back({"resilience", d.kind == resilience::Decision::Kind::kStart ? self->routeTargets()[d.target].key : "",
                          monoNowNs(), 0, d.note});
  if (d.kind == resilience::Decision::Kind::kStart) self->startHedge(d.target);
}

void RequestContext::startHedge(size_t index) {
  HedgeAttempt& h = hedge_;
  h.target = &routeTargets()[index];
  h.model = modelFor(*h.target);
  h.view = view_;  // its own view: the running attempt's view and model stay as they are
  h.view.model = {h.model.data(), h.model.size()};
  h.content.clear();
  h.tool_calls.clear();
  h.start_ns = monoNowNs();
  h.health = &engine_.health().target(h.target->key, route_->policy);
  ++h.health->in_flight;
  if (h.health->tpm.limited()) {
    h.health->tpm.charge(h.start_ns, token_estimate_);
    h.tokens = {&h.health->tpm, token_estimate_};
  }
  engine_.counters().attempts.fetch_add(1, std::memory_order_relaxed);
  engine_.counters().hedges.fetch_add(1, std::memory_order_relaxed);
  const Stage& stage = h.target->stage;
  h.span = spans_.size();
  const Target* started = h.target;
  outrigger_status rc = callProviderStart(stage, &hedge_.view);
  // The hook may have settled the hedge already: it answered and won (promoted), failed, or the
  // request ended (a guardrail denied a chunk it sent) and cancelled it. Its accounting is done
  // then, whatever the hook returns.
  if (rc == OUTRIGGER_PENDING || hedge_.target != started || ended_) {
    if (completed_in_hook_) advance();  // the hedge answered at once and won
    return;
  }
  // A hedge that cannot start is dropped; the first attempt goes on.
  engine_.counters().plugin_errors.fetch_add(1, std::memory_order_relaxed);
  stage.instance->failures.fetch_add(1, std::memory_order_relaxed);
  closeSpanAt(h.span, "error");
  --h.health->in_flight;
  settleTokens(&h.tokens, 0);
  h.target = nullptr;
  engine_.wakeLimitQueues();
}

void RequestContext::cancelHedge() {
  HedgeAttempt& h = hedge_;
  if (!h.target) return;
  const Target* t = h.target;
  h.target = nullptr;  // first: the cancel hook must not find it running
  closeSpanAt(h.span, "cancelled");
  --h.health->in_flight;
  h.tokens = {};  // a cancelled attempt keeps its estimate: the upstream may have read the prompt
  t->stage.instance->provider()->cancel(t->stage.instance->handle(), handle_);
  engine_.wakeLimitQueues();
}

void RequestContext::cancelCurrentForHedge() {
  const Stage& stage = target_->stage;
  waiting_ = Waiting::kNothing;
  closeSpanAt(attempt_span_, "cancelled");
  attempt_tokens_ = {};
  endAttempt();
  stage.instance->provider()->cancel(stage.instance->handle(), handle_);
}

void RequestContext::promoteHedge() {
  HedgeAttempt& h = hedge_;
  target_ = h.target;
  waiting_ = Waiting::kProvider;
  waiting_stage_ = &target_->stage;
  model_ = h.model;
  attempt_health_ = h.health;
  attempt_start_ns_ = h.start_ns;
  attempt_span_ = h.span;
  attempt_tokens_ = h.tokens;
  content_ = std::move(h.content);
  tool_calls_ = std::move(h.tool_calls);
  // Its view and model stay: the provider may still hold the view it was started with.
  h.target = nullptr;
  h.health = nullptr;
  h.tokens = {};
}

void RequestContext::hedgedFailure(plugin::PluginInstance* inst, const outrigger_response_view& r) {
  resilience::AttemptFailure failure{r.code, r.retryable != 0, r.retry_after_ms};
  uint64_t now = monoNowNs();
  std::string message(r.message.size ? std::string_view(r.message.data, r.message.size) : "provider failed");
  if (isHedge(inst)) {
    closeSpanAt(hedge_.span, "error");
    planner_->hedgeFailed(now, failure);
    settleTokens(&hedge_.tokens, 0);
    --hedge_.health->in_flight;
    spans_.push_back({"resilience", "", now, 0, "hedge " + hedge_.target->key + " failed (" + message +
                                                     "); the first attempt goes on"});
    hedge_.target = nullptr;
    engine_.wakeLimitQueues();
    return;
  }
  closeSpanAt(attempt_span_, "error");
  planner_->currentFailedWhileHedged(now, failure);
  settleTokens(&attempt_tokens_, 0);
  endAttempt();
  spans_.push_back({"resilience", "", now, 0, "attempt on " + target_->key + " failed (" + message +
                                                   "); the hedge on " + hedge_.target->key + " goes on"});
  promoteHedge();
}

void RequestContext::closeSpanAt(size_t index, std::string_view outcome) {
  if (index >= spans_.size() || !spans_[index].outcome.empty()) return;
  auto& s = spans_[index];
  s.duration_ns = monoNowNs() - s.start_ns;
  s.outcome = std::string(outcome);
}

}  // namespace outrigger::chain
