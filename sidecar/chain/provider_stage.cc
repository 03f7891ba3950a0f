// Attempts and their completions: start one on a target, take its chunks (guardrails first),
// take its answer or its failure (the planner says what comes next), cancel it.
#include "chain/provider_stage.h"

#include <string>

#include "chain/call_hook.h"
#include "chain/limiter_stage.h"
#include "chain/plugin_text.h"
#include "chain/request_context.h"
#include "chain/span_attributes.h"
#include "common/clock.h"
#include "common/rate_limited_log.h"
#include "common/utf8.h"
#include "http_client/http_client.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

Code toCode(outrigger_code c) { return c >= 0 && c <= 16 ? static_cast<Code>(c) : Code::kUnknown; }

}  // namespace

const Stage& ProviderStage::stage() const { return target_ ? target_->stage : ctx_.route_->provider; }

const std::vector<Target>& ProviderStage::routeTargets() const {
  return ctx_.route_->targets.empty() ? implicit_targets_ : ctx_.route_->targets;
}

bool ProviderStage::traced() const { return ctx_.traced_; }

bool ProviderStage::isAttempt(plugin::PluginInstance* inst) const {
  return ctx_.pendingIs(StageKind::kProvider, inst);
}

outrigger_status ProviderStage::callStart(const Stage& stage, const outrigger_request_view* view) {
  ++upstream_calls_;
  return ctx_.callHook(stage, "provider", [&] { return stage.instance->provider()->start(stage.instance->handle(), view); });
}

bool ProviderStage::startAttempt(size_t index) {
  RequestContext& r = ctx_;
  answer_with_guardrails_ = false;  // the last attempt's answer was settled before another could start
  target_ = &routeTargets()[index];
  r.model_ = r.modelFor(*target_);
  if (r.embed_) {
    Code code = Code::kOk;
    if (std::string why = embedRefusal(target_->stage, &code); !why.empty()) {
      r.spans_.push_back({"provider.embed", target_->stage.instance->name(), monoNowNs(), 0, "unsupported"});
      return passOver(code, why);
    }
  }
  // The provider gets the target's model in a view of its own; stages before and after it (and
  // the cache key) keep seeing the request as the route received it.
  attempt_view_ = r.view_;
  attempt_view_.model = {r.model_.data(), r.model_.size()};
  r.content_.clear();  // a failed unary attempt leaves nothing behind
  r.tool_calls_.clear();
  r.answer_model_.clear();
  r.answer_meta_ = {};
  text_refused_ = false;
  answer_bytes_ = 0;
  if (r.stream_guard_) r.stream_guard_->newAttempt();
  planner_->started();
  attempt_start_ns_ = monoNowNs();
  endAttempt();
  attempt_health_ = &r.engine_.health().target(target_->key);
  ++attempt_health_->in_flight;
  if (attempt_health_->tpm.limited()) {
    // The prompt's estimate now; the answer's usage corrects it (settleTokens).
    double need = planner_->tokenNeed(index);
    attempt_health_->tpm.charge(attempt_start_ns_, need);
    attempt_tokens_ = {&attempt_health_->tpm, need};
  }
  ++attempt_number_;
  r.reached_provider_ = true;
  r.engine_.counters().attempts.fetch_add(1, std::memory_order_relaxed);
  const Stage& stage = target_->stage;
  r.setPending(stage, StageKind::kProvider);
  attempt_span_ = r.spans_.size();
  outrigger_status rc = r.embed_ ? callEmbed(stage) : callStart(stage, &attempt_view_);
  if (traced()) describeAttemptStart(&r.spans_, attempt_span_, *target_, r.model_, r.embed_ ? nullptr : r.view_.params);
  if (rc == OUTRIGGER_PENDING || r.answeredInHook(stage, rc)) {
    if (!r.completed_in_hook_ && !r.embed_ && r.pending_.stage == &stage) armHedge();
    return r.completed_in_hook_;
  }
  r.pending_ = {};
  settleTokens(&attempt_tokens_, 0);  // it never reached the upstream
  LimiterStage::settle(r, target_->key, Code::kInternal, false, Usage{}, 0);
  if (r.embed_ && rc == OUTRIGGER_E_UNSUPPORTED) {  // the C++ wrapper's default embed
    r.closeSpanAt(attempt_span_, "unsupported");
    endAttempt();
    return passOver(Code::kUnimplemented, "the route's provider '" + stage.instance->name() + "' cannot embed");
  }
  if (rc >= 0) {
    // A provider must answer through provider_done (embeddings_done): its call may be live, so it
    // is cancelled, and no other target starts beside it.
    stage.instance->provider()->cancel(stage.instance->handle(), r.handle_);
    r.stageFailed(stage, OUTRIGGER_E_INVALID, r.embed_ ? "provider embed" : "provider start", rc);
    if (!r.ended_) r.end(Code::kInternal, r.embed_ ? "provider embed failed" : "provider failed to start", stage.origin);
    return false;
  }
  return startFailed(stage, rc);
}

// The current target never reached its upstream (it cannot take the request, or its provider
// could not start it): the request token it took from the target's rpm goes back, and the
// planner, told `code` (a code that falls back and that no breaker counts), names what comes next.
resilience::Decision ProviderStage::passToNext(outrigger_code code) {
  const uint64_t now = monoNowNs();
  planner_->refundCurrent(now);
  resilience::Decision d = planner_->afterFailure(now, {code, false, 0}, ctx_.chunk_seq_ > 0);
  recordDecision(d);
  return d;
}

// A provider that could not start the call (a negative status: out of memory, a request it cannot
// encode, a broken plugin) fails this attempt, not the request: another target may take it. It is
// not retried on the same target, and no breaker learns of it, since the upstream was never asked.
// With no target left, the route's degraded answer if it has one, else INTERNAL.
bool ProviderStage::startFailed(const Stage& stage, outrigger_status rc) {
  RequestContext& r = ctx_;
  r.closeSpanAt(attempt_span_, "error");
  std::string why = r.noteStageFailure(stage, rc, r.embed_ ? "provider embed" : "provider start");
  endAttempt();
  resilience::Decision d = passToNext(OUTRIGGER_CODE_UNAVAILABLE);
  if (d.kind == resilience::Decision::Kind::kStart) return startAttempt(d.target);
  if (serveFallbackAnswer(why)) {
    r.skipAllSteps();
    return true;
  }
  r.end(Code::kInternal, why, stage.origin);
  return false;
}

outrigger_status ProviderStage::chunk(plugin::PluginInstance* inst, const outrigger_chunk_view& chunk) {
  RequestContext& r = ctx_;
  if (r.embed_) return OUTRIGGER_E_INVALID;  // an embed call answers through embeddings_done only
  bool hedge = isHedge(inst);
  if (!hedge && !isAttempt(inst)) return OUTRIGGER_E_INVALID;
  // A tool call's index sizes the answer's list of calls: bounded, so that one chunk cannot make
  // the host allocate billions of entries.
  for (size_t i = 0; chunk.tool_calls && i < chunk.tool_call_count; ++i) {
    if (chunk.tool_calls[i].index >= kMaxToolCallIndex) return OUTRIGGER_E_INVALID;
  }
  // Text that is not UTF-8 never goes out; the attempt's answer fails when it ends (done), and
  // nothing it sends meanwhile is taken.
  bool& refused = hedge ? hedge_.text_refused : text_refused_;
  if (refused || !chunkTextIsUtf8(chunk)) {
    refused = true;
    return OUTRIGGER_E_INVALID;
  }
  // The answer is kept whole for the guardrails, the cache and the record: an upstream that
  // streams without end would hold the daemon's memory to the deadline. Past the route's bound
  // the request ends.
  uint64_t& answer_bytes = hedge ? hedge_.answer_bytes : answer_bytes_;
  answer_bytes += chunk.delta.size;
  for (size_t i = 0; chunk.tool_calls && i < chunk.tool_call_count; ++i) {
    const outrigger_tool_call_delta_view& d = chunk.tool_calls[i];
    answer_bytes += d.id.size + d.type.size + d.name.size + d.arguments.size;
  }
  if (answer_bytes > r.route_->max_answer_bytes) {
    r.engine_.counters().answer_overflows.fetch_add(1, std::memory_order_relaxed);
    const std::string why =
        "the answer went past the route's max_answer_bytes (" + std::to_string(r.route_->max_answer_bytes) + ")";
    if (hedge) {  // the hedge alone goes: the first attempt may still answer
      r.spans_.push_back({"resilience", "", monoNowNs(), 0, "hedge on " + hedge_.target->key + ": " + why});
      cancelHedge();
    } else if (hedge_.target) {  // the first attempt alone goes: the hedge may still answer
      r.spans_.push_back({"resilience", "", monoNowNs(), 0,
                          "attempt on " + target_->key + ": " + why + "; the hedge on " + hedge_.target->key + " goes on"});
      cancelCurrentForHedge();
      promoteHedge();
      planner_->hedgeWon();  // the planner follows the hedge; the cancelled attempt's probe has no verdict
    } else {
      r.cancelWith(Code::kResourceExhausted, why, target_->stage.origin);
    }
    return OUTRIGGER_E_STALE;
  }
  if (!hedge) {
    r.noteChunkHead(chunk);
    planner_->streamStarted();
  }
  // The guardrails see the current attempt's chunks before anyone else; a hedge's answer is
  // checked whole by on_response if it wins.
  if (!hedge && r.stream_guard_) return r.stream_guard_->chunk(chunk);
  // A hedge (unary only) collects its own answer until it wins.
  if (hedge) RequestContext::appendChunk(chunk, &hedge_.content, &hedge_.tool_calls);
  else r.takeChunk(chunk);
  if (r.ended_) return OUTRIGGER_E_STALE;
  return r.paused_ ? OUTRIGGER_PAUSE : OUTRIGGER_OK;
}

outrigger_status ProviderStage::done(plugin::PluginInstance* inst, const outrigger_response_view& reported) {
  RequestContext& r = ctx_;
  if (r.embed_) return OUTRIGGER_E_INVALID;  // an embed call answers through embeddings_done only
  bool hedge = isHedge(inst);
  if (!hedge && !isAttempt(inst)) return OUTRIGGER_E_INVALID;
  outrigger_response_view response = priced(inst, reported);  // provider_cost.cc
  std::string repaired;  // a failure's message when `response` needed one
  if ((hedge ? hedge_.text_refused : text_refused_) || !answerTextIsUtf8(response)) {
    response = withoutText(*inst, response, &repaired);
  }
  if (hedge_.target) {
    if (toCode(response.code) != Code::kOk) {
      hedgedFailure(inst, response);  // the other attempt goes on
      return OUTRIGGER_OK;
    }
    // The first success wins; the other attempt is cancelled now.
    if (hedge) {
      cancelCurrentForHedge();
      promoteHedge();
      r.engine_.counters().hedge_wins.fetch_add(1, std::memory_order_relaxed);
      planner_->hedgeWon();
    } else {
      cancelHedge();
    }
  }
  r.pending_ = {};
  r.provider_code_ = toCode(response.code);
  endAttempt();
  if (r.provider_code_ == Code::kOk) {
    if (r.stream_guard_) {
      keepFinal(response);  // what the end settles should a guardrail or a cancel end the request first
      answer_with_guardrails_ = true;
    }
    if (r.stream_guard_ && r.view_.stream && r.stream_guard_->chunksSeen() == 0 &&
        (response.content.size || response.tool_call_count)) {
      r.stream_guard_->wholeAnswer(response);
      if (r.ended_) return OUTRIGGER_OK;
    }
    if (r.stream_guard_ && r.stream_guard_->chunksSeen() > 0) {
      // The answer's text came through the guardrails; their on_stream_end decide first.
      if (!r.stream_guard_->providerFinished()) return OUTRIGGER_OK;  // finishAfterStreamGuard goes on
      if (r.ended_) return OUTRIGGER_OK;
      succeeded(final_.view);
    } else {
      succeeded(response);
    }
  } else if (failed(response)) {
    return OUTRIGGER_OK;  // another attempt starts after its backoff; nothing runs meanwhile
  }
  r.resumeAfterCompletion();
  return OUTRIGGER_OK;
}

// An answer whose text is not UTF-8 (or that sent such a chunk) as the failure it is: UNAVAILABLE
// and retryable, as the providers here report an upstream's, with the usage it cost kept. A
// failure's own message is repaired instead (U+FFFD for what is not UTF-8).
outrigger_response_view ProviderStage::withoutText(const plugin::PluginInstance& inst,
                                                   const outrigger_response_view& response, std::string* message) {
  outrigger_response_view out = response;
  if (response.code == OUTRIGGER_CODE_OK) {
    *message = "provider " + inst.name() + " answered text that is not UTF-8";
    out.code = OUTRIGGER_CODE_UNAVAILABLE;
    out.retryable = 1;
  } else {
    *message = utf8Replaced(sv(response.message));
  }
  out.message = {message->data(), message->size()};
  out.content = out.finish_reason = out.model = out.response_id = out.system_fingerprint = out.service_tier = {};
  out.error_type = out.error_code = {};
  out.tool_calls = nullptr;
  out.tool_call_count = 0;
  return out;
}

// A failed attempt gives its estimate back, less what the upstream reported using (a stream cut
// after its usage event was billed); that usage and its cost stay the request's too.
void ProviderStage::setAsideFailedUsage(TokenCharge* charge, const outrigger_response_view& response) {
  settleTokens(charge, double(response.usage.prompt_tokens) + double(response.usage.completion_tokens));
  ctx_.set_aside_usage_ += usageOf(response);
  ctx_.set_aside_cost_usd_ += response.cost_usd;
}

bool ProviderStage::failed(const outrigger_response_view& response) {
  RequestContext& r = ctx_;
  r.closeSpanAt(attempt_span_, "error");
  if (traced()) describeAttemptEnd(&r.spans_, attempt_span_, response);
  setAsideFailedUsage(&attempt_tokens_, response);
  LimiterStage::settle(r, target_->key, r.provider_code_, true, usageOf(response), response.cost_usd);
  r.provider_retryable_ = response.retryable;
  r.provider_retry_after_ms_ = response.retry_after_ms;
  noteRateLimit(response);
  r.provider_message_.assign(sv(response.message));
  if (r.provider_message_.empty()) r.provider_message_ = "provider failed";
  r.provider_error_type_.assign(sv(response.error_type));
  r.provider_error_code_.assign(sv(response.error_code));
  resilience::Decision d = planner_->afterFailure(
      monoNowNs(), {response.code, response.retryable != 0, response.retry_after_ms}, /*chunk_sent=*/r.chunk_seq_ > 0);
  recordDecision(d);
  if (d.kind == resilience::Decision::Kind::kStart) {
    // What the guardrails still hold or decide of this attempt is dropped now, not when the next
    // one starts: a decision arriving during the wait would send the failed attempt's chunks.
    if (r.stream_guard_) r.stream_guard_->newAttempt();
    // Never from inside the plugin's call: the next attempt starts from the loop.
    next_target_ = d.target;
    if (r.setTimer(d.delay_ms, &ProviderStage::onAttemptTimer, this) == OUTRIGGER_OK) return true;
  }
  // No more attempts: the route's degraded answer if it has one, else the failure stands. No
  // response step sees either. Every attempt rate limited: the caller may come back at the
  // soonest time any target named, rather than the last one's.
  if (rate_limited_ && !other_failures_ && soonest_rate_limit_ms_) r.provider_retry_after_ms_ = soonest_rate_limit_ms_;
  serveFallbackAnswer(r.provider_message_);
  r.skipAllSteps();
  return false;
}

void ProviderStage::noteRateLimit(const outrigger_response_view& failure) {
  if (failure.code != OUTRIGGER_CODE_RESOURCE_EXHAUSTED) {
    ++other_failures_;
    return;
  }
  ++rate_limited_;
  uint32_t ms = failure.retry_after_ms;
  if (ms && (!soonest_rate_limit_ms_ || ms < soonest_rate_limit_ms_)) soonest_rate_limit_ms_ = ms;
}

// A target whose upstream now answers as another model or fingerprint: logged (a few lines a
// second at most, should an upstream flap between two) and counted on /metrics.
void ProviderStage::noteUpstreamIdentity(resilience::TargetHealth& health, const outrigger_response_view& response) {
  if (ctx_.embed_) return;  // an embedding model answers as itself, not as the chat model
  // Per model asked: a target passing the caller's model through answers each as itself.
  for (const auto& change :
       health.identity.observe(ctx_.model_, sv(response.model), sv(response.system_fingerprint))) {
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, "upstream",
              "target " + target_->key + " now answers with " + change.kind + " " + change.to + " (was " + change.from +
                  "), first in trace " + ctx_.trace_id_);
  }
}

void ProviderStage::succeeded(const outrigger_response_view& response) {
  RequestContext& r = ctx_;
  answer_with_guardrails_ = false;
  // Latency for lowest-latency routing: to the first chunk when one was sent, else to the answer.
  uint64_t now = monoNowNs();
  uint64_t until = r.first_chunk_ns_ > attempt_start_ns_ ? r.first_chunk_ns_ : now;
  resilience::TargetHealth& health = r.engine_.health().target(target_->key);
  health.latency.add(double(until - attempt_start_ns_) / 1e6);
  noteUpstreamIdentity(health, response);
  r.answered_ = true;
  r.closeSpanAt(attempt_span_, "ok");
  if (traced()) describeAttemptEnd(&r.spans_, attempt_span_, response);
  settleAnswered(response);
  std::string streamed = std::move(r.content_);
  r.copyFinal(response);
  if (response.content.size == 0) r.content_ = std::move(streamed);
  // A provider that answered whole still streams to a client that asked for chunks.
  if (r.view_.stream && r.chunk_seq_ == 0 && (!r.content_.empty() || !r.tool_calls_.empty())) r.streamWholeAnswer(0);
  if (r.finish_reason_.empty() && !r.embed_) r.finish_reason_ = "stop";
}

// An attempt that answered: the breaker's verdict, the target's tokens and the limiters, settled
// to what it used.
void ProviderStage::settleAnswered(const outrigger_response_view& response) {
  planner_->succeeded();
  settleTokens(&attempt_tokens_,
               usedTokens(response.usage.prompt_tokens, response.usage.completion_tokens, attempt_tokens_.charged));
  LimiterStage::settle(ctx_, target_->key, Code::kOk, true, usageOf(response), response.cost_usd);
}

void ProviderStage::keepFinal(const outrigger_response_view& response) {
  ctx_.noteAnswerMeta(response);  // the views below outlive the plugin's strings
  final_.finish_reason.assign(sv(response.finish_reason));
  final_.model.assign(sv(response.model));
  final_.view = response;
  final_.view.message = {};
  final_.view.content = {};  // what the guardrails let through is the content
  final_.view.tool_calls = nullptr;
  final_.view.tool_call_count = 0;
  final_.view.finish_reason = {final_.finish_reason.data(), final_.finish_reason.size()};
  final_.view.model = {final_.model.data(), final_.model.size()};
  const RequestContext::AnswerMeta& meta = ctx_.answer_meta_;
  final_.view.system_fingerprint = {meta.system_fingerprint.data(), meta.system_fingerprint.size()};
  final_.view.service_tier = {meta.service_tier.data(), meta.service_tier.size()};
}

void ProviderStage::finishAfterStreamGuard() {
  if (ctx_.ended_) return;
  succeeded(final_.view);
  ctx_.resumeAfterCompletion();
}

void ProviderStage::endAttempt() {
  if (attempt_health_) {
    --attempt_health_->in_flight;
    ctx_.engine_.wakeLimitQueues();  // a concurrency slot freed
  }
  attempt_health_ = nullptr;
}

void ProviderStage::onAttemptTimer(void* user_data, outrigger_status status) {
  auto* self = static_cast<ProviderStage*>(user_data);
  RequestContext& r = self->ctx_;
  if (status != OUTRIGGER_OK || r.ended_) return;  // the request ended during the backoff
  if (self->startAttempt(self->next_target_)) r.advance();
}

void ProviderStage::cancelPending(const Stage& stage) {
  RequestContext& r = ctx_;
  r.closeSpanAt(attempt_span_, "cancelled");
  stage.instance->provider()->cancel(stage.instance->handle(), r.handle_);
}

void ProviderStage::resume(const Stage& stage) {
  const auto* hooks = stage.instance->provider();
  if (OUTRIGGER_HAS_SLOT(hooks, outrigger_provider_hooks, resume)) hooks->resume(stage.instance->handle(), ctx_.handle_);
}

void ProviderStage::onRequestEnd(bool current_running, std::string_view why) {
  RequestContext& r = ctx_;
  if (current_running && target_) LimiterStage::settle(r, target_->key, Code::kCancelled, true, Usage{}, 0);
  if (answer_with_guardrails_ && target_) {
    // The upstream answered (and billed) in full; a guardrail, a cancel or the deadline ended the
    // request before the answer went on. The attempt is settled as answered, with its usage, and
    // the usage and cost stay the request's.
    answer_with_guardrails_ = false;
    settleAnswered(final_.view);
    r.usage_ += usageOf(final_.view);
    r.cost_usd_ += final_.view.cost_usd;
  }
  if (seat_.seated()) seat_.leave("left: the request ended (" + std::string(why) + ")");
  if (hedge_.target) cancelHedge();
  if (planner_) planner_->abandoned();  // frees a half-open probe slot held without a verdict
  endAttempt();
  attempt_tokens_ = {};  // an attempt cut short keeps its estimate
}

}  // namespace outrigger::chain
