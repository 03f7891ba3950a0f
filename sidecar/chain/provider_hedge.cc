// Hedging for unary calls: when the first attempt has not answered after the route's
// `hedge.delay_ms`, a second attempt starts on the next admitted target of another provider
// instance (AttemptPlanner::hedge). The first success wins and the other attempt is cancelled at
// once (its provider's cancel hook aborts its transfer); a failure of one while the other runs
// does not end the request. Streaming calls are never hedged: chunks already sent to the client
// could not be taken back.
#include <string>

#include "chain/call_hook.h"
#include "chain/limiter_stage.h"
#include "chain/provider_stage.h"
#include "chain/request_context.h"
#include "chain/span_attributes.h"
#include "common/clock.h"

namespace outrigger::chain {

void ProviderStage::armHedge() {
  uint32_t delay_ms = ctx_.route_->policy.hedge.delay_ms;
  if (!delay_ms || ctx_.view_.stream || attempt_number_ != 1 || routeTargets().size() < 2) return;
  ctx_.setTimer(delay_ms, &ProviderStage::onHedgeTimer, this);
}

void ProviderStage::onHedgeTimer(void* user_data, outrigger_status status) {
  auto* self = static_cast<ProviderStage*>(user_data);
  // Only while the first attempt is still the one running.
  if (status != OUTRIGGER_OK || self->ctx_.ended_ || !self->isAttempt(self->target_->stage.instance.get()) ||
      self->attempt_number_ != 1 || self->hedge_.target) {
    return;
  }
  resilience::Decision d = self->planner_->hedge(monoNowNs());
  bool start = d.kind == resilience::Decision::Kind::kStart;
  self->ctx_.spans_.push_back({"resilience", start ? self->routeTargets()[d.target].key : "", monoNowNs(), 0, d.note});
  if (start) self->startHedge(d.target);
}

void ProviderStage::startHedge(size_t index) {
  HedgeAttempt& h = hedge_;
  h.target = &routeTargets()[index];
  h.model = ctx_.modelFor(*h.target);
  h.view = ctx_.view_;  // its own view: the running attempt's view and model stay as they are
  h.view.model = {h.model.data(), h.model.size()};
  h.content.clear();
  h.tool_calls.clear();
  h.text_refused = false;
  h.answer_bytes = 0;
  h.start_ns = monoNowNs();
  h.health = &ctx_.engine_.health().target(h.target->key);
  ++h.health->in_flight;
  if (h.health->tpm.limited()) {
    double need = planner_->tokenNeed(index);
    h.health->tpm.charge(h.start_ns, need);
    h.tokens = {&h.health->tpm, need};
  }
  ctx_.engine_.counters().attempts.fetch_add(1, std::memory_order_relaxed);
  ctx_.engine_.counters().hedges.fetch_add(1, std::memory_order_relaxed);
  const Stage& stage = h.target->stage;
  h.span = ctx_.spans_.size();
  const Target* started = h.target;
  outrigger_status rc = callStart(stage, &hedge_.view);
  if (traced()) describeAttemptStart(&ctx_.spans_, h.span, *started, h.model, ctx_.view_.params);
  // The hook may have settled the hedge already: it answered and won (promoted), failed, or the
  // request ended (a guardrail denied a chunk it sent) and cancelled it. Its accounting is done
  // then, whatever the hook returns.
  if (rc == OUTRIGGER_PENDING || hedge_.target != started || ctx_.ended_) {
    if (ctx_.completed_in_hook_) ctx_.advance();  // the hedge answered at once and won
    return;
  }
  // A hedge that cannot start is dropped; the first attempt goes on. A hook that returned
  // neither PENDING nor a failure may have a live call: it is cancelled, as a first attempt's is.
  if (rc >= 0) stage.instance->provider()->cancel(stage.instance->handle(), ctx_.handle_);
  ctx_.engine_.counters().plugin_errors.fetch_add(1, std::memory_order_relaxed);
  stage.instance->failures.fetch_add(1, std::memory_order_relaxed);
  ctx_.closeSpanAt(h.span, "error");
  LimiterStage::settle(ctx_, h.target->key, Code::kInternal, false, Usage{}, 0);
  --h.health->in_flight;
  settleTokens(&h.tokens, 0);
  planner_->hedgeNotStarted(monoNowNs());  // its rate token: nothing was sent
  h.target = nullptr;
  ctx_.engine_.wakeLimitQueues();
}

void ProviderStage::cancelHedge() {
  HedgeAttempt& h = hedge_;
  if (!h.target) return;
  const Target* t = h.target;
  h.target = nullptr;  // first: the cancel hook must not find it running
  releaseHedgeAnswer();
  ctx_.closeSpanAt(h.span, "cancelled");
  LimiterStage::settle(ctx_, t->key, Code::kCancelled, true, Usage{}, 0);
  --h.health->in_flight;
  h.tokens = {};  // a cancelled attempt keeps its estimate: the upstream may have read the prompt
  t->stage.instance->provider()->cancel(t->stage.instance->handle(), ctx_.handle_);
  ctx_.engine_.wakeLimitQueues();
}

// A dropped hedge's partial answer goes now, not at the request's end: it may be up to
// max_answer_bytes while the first attempt fills as much again.
void ProviderStage::releaseHedgeAnswer() {
  std::string().swap(hedge_.content);
  std::vector<ToolCall>().swap(hedge_.tool_calls);
}

void ProviderStage::cancelCurrentForHedge() {
  const Stage& stage = target_->stage;
  // The hedge answered first: this target took at least this long. Recorded, or lowest-latency
  // routing would keep sending first to a target that turned slow, its last sample from before,
  // and every request would wait out the hedge delay.
  ctx_.engine_.health().target(target_->key).latency.add(double(monoNowNs() - attempt_start_ns_) / 1e6);
  ctx_.pending_ = {};
  ctx_.closeSpanAt(attempt_span_, "cancelled");
  LimiterStage::settle(ctx_, target_->key, Code::kCancelled, true, Usage{}, 0);
  attempt_tokens_ = {};
  endAttempt();
  stage.instance->provider()->cancel(stage.instance->handle(), ctx_.handle_);
}

void ProviderStage::promoteHedge() {
  HedgeAttempt& h = hedge_;
  target_ = h.target;
  ctx_.setPending(target_->stage, StageKind::kProvider);
  ctx_.model_ = h.model;
  attempt_health_ = h.health;
  attempt_start_ns_ = h.start_ns;
  attempt_span_ = h.span;
  attempt_tokens_ = h.tokens;
  ctx_.content_ = std::move(h.content);
  ctx_.tool_calls_ = std::move(h.tool_calls);
  // The dropped attempt's model, fingerprint and refusal mark are not this answer's.
  ctx_.answer_model_.clear();
  ctx_.answer_meta_ = {};
  // What it sent so far counts as the attempt's from now on: its bytes toward the bound, and text
  // that was not UTF-8 still fails its answer.
  answer_bytes_ = h.answer_bytes;
  text_refused_ = h.text_refused;
  // The guardrails saw the losing attempt's chunks, not these: what they held of it is dropped.
  if (ctx_.stream_guard_) ctx_.stream_guard_->newAttempt();
  // Its view and model stay: the provider may still hold the view it was started with.
  h.target = nullptr;
  h.health = nullptr;
  h.tokens = {};
}

void ProviderStage::hedgedFailure(plugin::PluginInstance* inst, const outrigger_response_view& r) {
  resilience::AttemptFailure failure{r.code, r.retryable != 0, r.retry_after_ms};
  uint64_t now = monoNowNs();
  std::string message(r.message.size ? std::string_view(r.message.data, r.message.size) : "provider failed");
  if (isHedge(inst)) {
    ctx_.closeSpanAt(hedge_.span, "error");
    if (traced()) describeAttemptEnd(&ctx_.spans_, hedge_.span, r);
    LimiterStage::settle(ctx_, hedge_.target->key, static_cast<Code>(r.code), true, usageOf(r), r.cost_usd);
    planner_->hedgeFailed(now, failure);
    setAsideFailedUsage(&hedge_.tokens, r);
    --hedge_.health->in_flight;
    ctx_.spans_.push_back({"resilience", "", now, 0, "hedge " + hedge_.target->key + " failed (" + message +
                                                     "); the first attempt goes on"});
    hedge_.target = nullptr;
    releaseHedgeAnswer();
    ctx_.engine_.wakeLimitQueues();
    return;
  }
  ctx_.closeSpanAt(attempt_span_, "error");
  if (traced()) describeAttemptEnd(&ctx_.spans_, attempt_span_, r);
  LimiterStage::settle(ctx_, target_->key, static_cast<Code>(r.code), true, usageOf(r), r.cost_usd);
  planner_->currentFailedWhileHedged(now, failure);
  setAsideFailedUsage(&attempt_tokens_, r);
  endAttempt();
  ctx_.spans_.push_back({"resilience", "", now, 0, "attempt on " + target_->key + " failed (" + message +
                                                   "); the hedge on " + hedge_.target->key + " goes on"});
  promoteHedge();
}

}  // namespace outrigger::chain
