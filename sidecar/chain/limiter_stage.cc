#include "chain/limiter_stage.h"

#include <algorithm>
#include <string>

#include "chain/plugin_text.h"
#include "chain/request_context.h"
#include "common/clock.h"
#include "cost/price_table.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

const outrigger_limiter_hooks* hooksOf(const Stage& stage) { return stage.instance->limiter(); }

}  // namespace

// What admit is told: the prompt's size in tokens, the caller's completion cap, and what the
// request may cost at most.
outrigger_limit_estimate LimiterStage::estimateOf(RequestContext& ctx) {
  const outrigger_request_view& view = ctx.view_;
  outrigger_limit_estimate e{};
  e.hdr = OUTRIGGER_HEADER_INIT(outrigger_limit_estimate);
  if (ctx.embed_) {
    e.prompt_tokens = ctx.embedTokenEstimate();  // its inputs, not chat messages
  } else {
    // The most any target's model counts, so the charge holds whichever target answers.
    for (const Target& target : ctx.route_->targets) {
      e.prompt_tokens = std::max(e.prompt_tokens, ctx.prompt_tokens_.count(view, ctx.modelFor(target)));
    }
    if (ctx.route_->targets.empty()) e.prompt_tokens = ctx.prompt_tokens_.count(view, ctx.requestModel());
  }
  if (view.params && (view.params->present & OUTRIGGER_PARAM_MAX_TOKENS)) e.max_completion_tokens = view.params->max_tokens;
  // The highest price of each kind over the route's targets, each priced at the model it would
  // call, so the worst case holds whichever target an attempt (a retry, a fallback) goes to.
  const cost::PriceTable* table = ctx.chain_->prices.get();
  double input = 0, output = 0;
  for (const Target& target : ctx.route_->targets) {
    const plugin::PluginInstance& inst = *target.stage.instance;
    const cost::ModelPrice* price = table ? table->find({inst.name(), inst.type().name}, ctx.modelFor(target)) : nullptr;
    if (!price) {
      e.unpriced = 1;
      continue;
    }
    input = std::max({input, price->input, price->cache_read.value_or(0), price->cache_write.value_or(0)});
    output = std::max({output, price->output, price->reasoning.value_or(0)});
    e.max_output_tokens = std::max(e.max_output_tokens, price->max_output);
  }
  if (ctx.embed_) {  // no answer: nothing to reserve for one
    e.no_completion = 1;
    e.max_completion_tokens = e.max_output_tokens = 0;
    output = 0;
  }
  e.prompt_cost_usd = double(e.prompt_tokens) * input;
  e.output_price_usd = output;
  uint64_t cap = e.max_completion_tokens ? e.max_completion_tokens : e.max_output_tokens;
  e.max_cost_usd = cap || e.no_completion ? e.prompt_cost_usd + double(cap) * output : 0;
  e.billed_attempts = billedAttempts(ctx);
  return e;
}

// Each re-ask is another attempt, and each attempt may be hedged once (provider_hedge.cc).
uint8_t LimiterStage::billedAttempts(const RequestContext& ctx) {
  const Route& route = *ctx.route_;
  uint32_t attempts = 1;
  if (!ctx.embed_ && !route.guardrails.empty()) attempts += route.max_reasks;
  bool hedges = route.policy.hedge.delay_ms && !ctx.view_.stream && route.targets.size() >= 2;
  if (hedges) attempts *= 2;
  return uint8_t(std::min<uint32_t>(attempts, UINT8_MAX));
}

const StageHooks LimiterStage::kAdmit = {
    "limiter.admit",
    [](const RequestContext&, const Stage&) { return true; },
    [](RequestContext& ctx, const Stage& stage) {
      ctx.limit_result_ = {};
      ctx.limit_estimate_ = estimateOf(ctx);
      return hooksOf(stage)->admit(stage.instance->handle(), &ctx.view_, &ctx.limit_estimate_, &ctx.limit_result_);
    },
    [](RequestContext& ctx, const Stage& stage, outrigger_status rc) {
      const outrigger_limit_result& r = ctx.limit_result_;
      outrigger_code code = rc == OUTRIGGER_STOP ? (r.code ? r.code : OUTRIGGER_CODE_RESOURCE_EXHAUSTED) : OUTRIGGER_CODE_OK;
      return decide(ctx, stage, code, r.retry_after_ms, sv(r.reason));
    },
    [](const Stage& stage, outrigger_request handle) {
      const auto* hooks = hooksOf(stage);
      if (OUTRIGGER_HAS_SLOT(hooks, outrigger_limiter_hooks, on_cancel)) hooks->on_cancel(stage.instance->handle(), handle);
    },
    [](RequestContext& ctx, const Stage&) { return ctx.limiter_wait_.queueBehindOthers(); },
};

bool LimiterStage::decide(RequestContext& ctx, const Stage& stage, outrigger_code code, uint32_t retry_after_ms,
                          std::string_view reason) {
  if (code == OUTRIGGER_CODE_OK) {
    ctx.admitted_by_.push_back(&stage);
    ctx.closeSpan("admit");
    ctx.limiter_wait_.admitted();
    return true;
  }
  Code c = code > 0 && code <= 16 ? static_cast<Code>(code) : Code::kResourceExhausted;
  // Repaired here, not only at the end: a queued refusal's reason is also in its queue span.
  std::string message = reason.empty() ? std::string("refused by limiter") : repairedText(reason);
  bool queue_full = false;
  // Over a limit, on a route that queues: wait for capacity and ask again.
  if (c == Code::kResourceExhausted && ctx.limiter_wait_.refused(retry_after_ms, message, stage.origin, &queue_full)) {
    ctx.closeSpan("refuse: waits in the route's queue");
    ctx.limiter_wait_.dropRetrySpans();
    return false;
  }
  ctx.closeSpan("refuse");
  ctx.engine_.counters().limiter_refusals.fetch_add(1, std::memory_order_relaxed);
  if (queue_full) message += "; the wait queue is full";
  // Over a limit or a budget: worth a retry later; anything else is the limiter's word.
  bool retryable = c == Code::kResourceExhausted || c == Code::kUnavailable;
  ctx.end(c, message, stage.origin, retryable, retry_after_ms ? retry_after_ms : queue_full ? 1000 : 0);
  return false;
}

outrigger_status RequestContext::limiterDone(plugin::PluginInstance* inst, outrigger_code code, uint32_t retry_after_ms,
                                             std::string_view reason) {
  if (!pendingIs(StageKind::kLimiterAdmit, inst)) return OUTRIGGER_E_INVALID;
  const Stage& stage = *pending_.stage;
  pending_ = {};
  // A refusal ends the request or puts it in the route's queue: either way it goes no further.
  if (LimiterStage::decide(*this, stage, code, retry_after_ms, reason)) resumeAfterCompletion();
  return OUTRIGGER_OK;
}

void LimiterStage::settle(RequestContext& ctx, std::string_view target, Code code, bool reached_upstream,
                          const Usage& usage, double cost_usd) {
  if (ctx.admitted_by_.empty()) return;
  ++ctx.settlements_;
  outrigger_settlement s{};
  s.hdr = OUTRIGGER_HEADER_INIT(outrigger_settlement);
  s.target = {target.data(), target.size()};
  s.code = static_cast<outrigger_code>(code);
  s.reached_upstream = reached_upstream;
  s.usage = {usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens};
  s.cost_usd = cost_usd;
  // Settles run from completions and from the end, possibly inside another plugin's call: a
  // span each, but none of the pipeline's in-hook bookkeeping.
  for (const Stage* stage : ctx.admitted_by_) {
    ctx.spans_.push_back({"limiter.settle", stage->instance->name(), monoNowNs(), 0, ""});
    size_t span = ctx.spans_.size() - 1;
    hooksOf(*stage)->settle(stage->instance->handle(), &ctx.view_, &s);
    ctx.closeSpanAt(span, "settled");
  }
}

void LimiterStage::settleUnused(RequestContext& ctx, Code code) {
  if (ctx.settlements_ == 0) settle(ctx, {}, code, false, Usage{}, 0);
}

}  // namespace outrigger::chain
