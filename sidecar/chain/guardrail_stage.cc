#include "chain/guardrail_stage.h"

#include <string>

#include "chain/request_context.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

const outrigger_guardrail_hooks* hooksOf(const Stage& stage) { return stage.instance->guardrail(); }

void cancelGuardrail(const Stage& stage, outrigger_request handle) {
  const auto* hooks = hooksOf(stage);
  if (OUTRIGGER_HAS_SLOT(hooks, outrigger_guardrail_hooks, on_cancel)) hooks->on_cancel(stage.instance->handle(), handle);
}

}  // namespace

bool GuardrailStage::applyVerdict(RequestContext& ctx, const Stage& stage, const outrigger_guardrail_result& result,
                                  outrigger_status rc) {
  std::string reason(sv(result.reason));
  if (rc == OUTRIGGER_STOP || result.verdict == OUTRIGGER_VERDICT_DENY) {
    ctx.recordVerdict(stage.instance->name(), VerdictKind::kDeny, reason);
    ctx.closeSpan("stop");
    ctx.end(Code::kPermissionDenied, reason.empty() ? "denied by guardrail" : reason, stage.origin);
    return false;
  }
  VerdictKind kind = result.verdict == OUTRIGGER_VERDICT_FLAG ? VerdictKind::kFlag : VerdictKind::kPass;
  ctx.recordVerdict(stage.instance->name(), kind, reason);
  ctx.closeSpan(kind == VerdictKind::kFlag ? "flag" : "continue");
  return true;
}

const StageHooks GuardrailStage::kOnRequest = {
    "guardrail.request",
    [](const RequestContext&, const Stage& stage) {
      return OUTRIGGER_HAS_SLOT(hooksOf(stage), outrigger_guardrail_hooks, on_request);
    },
    [](RequestContext& ctx, const Stage& stage) {
      ctx.guard_result_ = {};
      return hooksOf(stage)->on_request(stage.instance->handle(), &ctx.view_, &ctx.guard_result_);
    },
    [](RequestContext& ctx, const Stage& stage, outrigger_status rc) {
      return applyVerdict(ctx, stage, ctx.guard_result_, rc);
    },
    &cancelGuardrail,
};

const StageHooks GuardrailStage::kOnResponse = {
    "guardrail.response",
    [](const RequestContext&, const Stage& stage) {
      return OUTRIGGER_HAS_SLOT(hooksOf(stage), outrigger_guardrail_hooks, on_response);
    },
    [](RequestContext& ctx, const Stage& stage) {
      ctx.guard_result_ = {};
      outrigger_response_view answer = ctx.answerView(&ctx.answer_calls_);
      return hooksOf(stage)->on_response(stage.instance->handle(), &ctx.view_, &answer, &ctx.guard_result_);
    },
    [](RequestContext& ctx, const Stage& stage, outrigger_status rc) {
      return applyVerdict(ctx, stage, ctx.guard_result_, rc);
    },
    &cancelGuardrail,
};

outrigger_status RequestContext::guardrailDone(plugin::PluginInstance* inst, outrigger_verdict verdict,
                                               std::string_view reason) {
  if (!pendingIs(StageKind::kRequestGuardrail, inst) && !pendingIs(StageKind::kResponseGuardrail, inst)) {
    return OUTRIGGER_E_INVALID;  // not pending here: late, doubled, or another plugin's
  }
  const Stage& stage = *pending_.stage;
  pending_ = {};
  outrigger_guardrail_result result{verdict, {reason.data(), reason.size()}};
  GuardrailStage::applyVerdict(*this, stage, result, verdict == OUTRIGGER_VERDICT_DENY ? OUTRIGGER_STOP : OUTRIGGER_CONTINUE);
  resumeAfterCompletion();
  return OUTRIGGER_OK;
}

bool GuardrailStage::allowChunk(RequestContext& ctx, const outrigger_chunk_view& chunk) {
  for (const Stage& g : ctx.route_->guardrails) {
    const auto* hooks = hooksOf(g);
    if (!OUTRIGGER_HAS_SLOT(hooks, outrigger_guardrail_hooks, on_chunk)) continue;
    outrigger_guardrail_result result{};
    outrigger_status rc = hooks->on_chunk(g.instance->handle(), &ctx.view_, &chunk, &result);
    bool failed_closed = rc < 0 && g.instance->onError() == config::OnError::kDeny;
    if (rc == OUTRIGGER_STOP || result.verdict == OUTRIGGER_VERDICT_DENY || failed_closed) {
      std::string reason(sv(result.reason));
      ctx.recordVerdict(g.instance->name(), VerdictKind::kDeny, reason);
      ctx.cancelWith(Code::kPermissionDenied, reason.empty() ? "stream denied by guardrail" : reason, g.origin);
      return false;
    }
  }
  return true;
}

}  // namespace outrigger::chain
