#include "chain/guardrail_stage.h"

#include <string>

#include "chain/plugin_text.h"
#include "chain/request_context.h"
#include "common/clock.h"
#include "plugin/plugin_struct.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

const outrigger_guardrail_hooks* hooksOf(const Stage& stage) { return stage.instance->guardrail(); }

void cancelGuardrail(const Stage& stage, outrigger_request handle) {
  const auto* hooks = hooksOf(stage);
  if (OUTRIGGER_HAS_SLOT(hooks, outrigger_guardrail_hooks, on_cancel)) hooks->on_cancel(stage.instance->handle(), handle);
}

}  // namespace

bool GuardrailStage::deny(RequestContext& ctx, const Stage& stage, const std::string& reason, Code code) {
  ctx.recordVerdict(stage.instance->name(), VerdictKind::kDeny, reason);
  ctx.closeSpan("stop");
  ctx.end(code, reason.empty() ? "denied by guardrail" : reason, stage.origin);
  return false;
}

// The code a deny ends the request with: the action's deny_code where it is one a guardrail may
// choose (ABI 1.2 tail), else PERMISSION_DENIED.
Code GuardrailStage::denyCode(const outrigger_guardrail_action* action) {
  if (!action) return Code::kPermissionDenied;
  switch (action->deny_code) {
    case OUTRIGGER_CODE_INVALID_ARGUMENT:
      return Code::kInvalidArgument;
    case OUTRIGGER_CODE_RESOURCE_EXHAUSTED:
      return Code::kResourceExhausted;
    case OUTRIGGER_CODE_FAILED_PRECONDITION:
      return Code::kFailedPrecondition;
    default:
      return Code::kPermissionDenied;
  }
}

bool GuardrailStage::decide(RequestContext& ctx, const Stage& stage, StageKind side, outrigger_status rc,
                            outrigger_verdict verdict, std::string_view reason_view,
                            const outrigger_guardrail_action* plugin_action) {
  std::string reason = repairedText(reason_view);
  outrigger_guardrail_action action;
  bool has_action = plugin::copyPluginStruct(plugin_action, OUTRIGGER_MIN_SIZE_GUARDRAIL_ACTION, &action);
  if (rc == OUTRIGGER_STOP || verdict == OUTRIGGER_VERDICT_DENY) {
    return deny(ctx, stage, reason, denyCode(has_action ? &action : nullptr));
  }
  if (verdict < OUTRIGGER_VERDICT_PASS || verdict > OUTRIGGER_VERDICT_REWRITE) {
    return ctx.stageFailed(stage, OUTRIGGER_E_INVALID, "guardrail verdict", verdict);
  }
  if (plugin_action && !has_action) return ctx.stageFailed(stage, OUTRIGGER_E_INVALID, "guardrail action (too small)");
  if (has_action && !actionTextIsUtf8(action)) {
    return ctx.stageFailed(stage, OUTRIGGER_E_INVALID, "guardrail action with text that is not UTF-8");
  }
  if (has_action && !actionRolesAreKnown(action)) {
    return ctx.stageFailed(stage, OUTRIGGER_E_INVALID, "guardrail action with a message role the fronts refuse");
  }
  if (has_action && action.reask) {
    if (side != StageKind::kResponseGuardrail) return ctx.stageFailed(stage, OUTRIGGER_E_INVALID, "re-ask outside on_response");
    return reask(ctx, stage, action, reason);
  }
  if (verdict == OUTRIGGER_VERDICT_REWRITE) {
    if (!has_action) return ctx.stageFailed(stage, OUTRIGGER_E_INVALID, "guardrail REWRITE without an action");
    if (side == StageKind::kRequestGuardrail) {
      bool has_messages = action.messages && action.message_count > 0;
      if (!has_messages && !action.replace_max_tokens) {
        return ctx.stageFailed(stage, OUTRIGGER_E_INVALID, "guardrail REWRITE without messages");
      }
      if (has_messages) {
        ctx.replaceMessages(std::make_unique<OwnedMessages>(
            std::initializer_list<OwnedMessages::List>{{action.messages, action.message_count}}));
      }
      if (action.replace_max_tokens) ctx.replaceMaxTokens(action.max_tokens);
    } else {
      rewriteAnswer(ctx, action);
    }
    ctx.engine_.counters().rewrites.fetch_add(1, std::memory_order_relaxed);
    ctx.recordVerdict(stage.instance->name(), VerdictKind::kRewrite, reason);
    ctx.closeSpan("rewrite");
    return true;
  }
  VerdictKind kind = verdict == OUTRIGGER_VERDICT_FLAG ? VerdictKind::kFlag : VerdictKind::kPass;
  ctx.recordVerdict(stage.instance->name(), kind, reason);
  ctx.closeSpan(kind == VerdictKind::kFlag ? "flag" : "continue");
  return true;
}

void GuardrailStage::rewriteAnswer(RequestContext& ctx, const outrigger_guardrail_action& action) {
  if (action.restores_caller_values) ctx.answer_withheld_ = true;
  if (action.replace_content) ctx.content_.assign(sv(action.content));
  if (action.replace_tool_calls) {
    ctx.tool_calls_.clear();
    for (size_t i = 0; action.tool_calls && i < action.tool_call_count; ++i) {
      const auto& c = action.tool_calls[i];
      ctx.tool_calls_.push_back({std::string(sv(c.id)), std::string(sv(c.type)), std::string(sv(c.name)),
                                 std::string(sv(c.arguments))});
    }
  }
}

// The answer is not accepted: the provider is asked again with the conversation, the answer and
// the guardrail's repair prompt, up to the route's max_reasks; past that (or once chunks went
// out, which cannot be taken back, or once the caller's own values were restored into it) the
// answer is denied.
bool GuardrailStage::reask(RequestContext& ctx, const Stage& stage, const outrigger_guardrail_action& action,
                           const std::string& reason) {
  if (ctx.view_.stream && ctx.chunk_seq_ > 0) {
    return deny(ctx, stage, "re-ask after the answer was streamed: " + reason, denyCode(&action));
  }
  if (ctx.reasks_ >= ctx.route_->max_reasks) {
    return deny(ctx, stage, reason + " (after " + std::to_string(ctx.reasks_) + " re-asks)", denyCode(&action));
  }
  if (ctx.answer_withheld_) {
    // A guardrail restored the caller's own values (reversible redaction) into this answer, and
    // the re-ask would send it, and the repair prompt quoting it, to the provider.
    return deny(ctx, stage, "re-ask refused: the answer holds values restored for the caller: " + reason,
                denyCode(&action));
  }
  std::vector<outrigger_tool_call_view> calls;
  outrigger_message_view answer = OwnedMessages::assistantMessage(ctx.content_, ctx.tool_calls_, &calls);
  // A held stream's text is the guardrail's to quote: an empty assistant turn is left out, which
  // Anthropic refuses ("all messages must have non-empty content").
  size_t answer_turns = ctx.content_.empty() && ctx.tool_calls_.empty() ? 0 : 1;
  ctx.keepAskedConversation();
  ctx.replaceMessages(std::make_unique<OwnedMessages>(std::initializer_list<OwnedMessages::List>{
      {ctx.view_.messages, ctx.view_.message_count}, {&answer, answer_turns}, {action.messages, action.message_count}}));
  ctx.recordVerdict(stage.instance->name(), VerdictKind::kFlag, "re-ask: " + reason);
  ctx.closeSpan("reask");
  ctx.spans_.push_back({"resilience", stage.instance->name(), monoNowNs(), 0,
                        "re-ask " + std::to_string(ctx.reasks_ + 1) + " of " + std::to_string(ctx.route_->max_reasks) +
                            " by " + stage.origin + ": " + reason});
  ctx.reaskProvider();
  // The provider is asked again from the loop's next turn, never from inside this decision: the
  // answer being re-asked may still be inside its provider's provider_done, and a provider that
  // keys its calls by request would see the new call while the old one unwinds.
  if (ctx.setTimer(0, &GuardrailStage::onReaskTimer, &ctx) != OUTRIGGER_OK) {
    ctx.end(Code::kInternal, "cannot schedule the re-ask", stage.origin);
  }
  return false;
}

void GuardrailStage::onReaskTimer(void* user_data, outrigger_status status) {
  auto* ctx = static_cast<RequestContext*>(user_data);
  if (status != OUTRIGGER_OK || ctx->ended_) return;  // the request ended meanwhile
  ctx->advance();
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
      const outrigger_guardrail_result& r = ctx.guard_result_;
      return decide(ctx, stage, StageKind::kRequestGuardrail, rc, r.verdict, sv(r.reason), r.action);
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
      ctx.guard_answer_ = ctx.answerView(&ctx.answer_calls_);
      return hooksOf(stage)->on_response(stage.instance->handle(), &ctx.view_, &ctx.guard_answer_, &ctx.guard_result_);
    },
    [](RequestContext& ctx, const Stage& stage, outrigger_status rc) {
      const outrigger_guardrail_result& r = ctx.guard_result_;
      return decide(ctx, stage, StageKind::kResponseGuardrail, rc, r.verdict, sv(r.reason), r.action);
    },
    &cancelGuardrail,
};

outrigger_status RequestContext::guardrailDone(plugin::PluginInstance* inst, outrigger_verdict verdict,
                                               std::string_view reason) {
  if (!pendingIs(StageKind::kRequestGuardrail, inst) && !pendingIs(StageKind::kResponseGuardrail, inst)) {
    return OUTRIGGER_E_INVALID;  // not pending here: late, doubled, or another plugin's
  }
  return guardrailDecided(inst, verdict == OUTRIGGER_VERDICT_DENY ? OUTRIGGER_STOP : OUTRIGGER_CONTINUE, verdict, reason,
                          nullptr);
}

outrigger_status RequestContext::guardrailDecided(plugin::PluginInstance* inst, outrigger_status decision,
                                                  outrigger_verdict verdict, std::string_view reason,
                                                  const outrigger_guardrail_action* action) {
  if (stream_guard_ && stream_guard_->pendingFor(inst)) return stream_guard_->decided(inst, decision, verdict, reason, action);
  StageKind side = pending_.kind;
  if (!pendingIs(StageKind::kRequestGuardrail, inst) && !pendingIs(StageKind::kResponseGuardrail, inst)) {
    return OUTRIGGER_E_INVALID;  // not pending here: late, doubled, or another plugin's
  }
  if (decision != OUTRIGGER_CONTINUE && decision != OUTRIGGER_STOP) return OUTRIGGER_E_INVALID;
  const Stage& stage = *pending_.stage;
  pending_ = {};
  if (GuardrailStage::decide(*this, stage, side, decision, verdict, reason, action)) resumeAfterCompletion();
  return OUTRIGGER_OK;
}

}  // namespace outrigger::chain
