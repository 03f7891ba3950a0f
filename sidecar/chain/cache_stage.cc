#include "chain/cache_stage.h"

#include "chain/plugin_text.h"
#include "chain/request_context.h"
#include "common/utf8.h"

namespace outrigger::chain {

const StageHooks CacheStage::kLookup = {
    "cache.lookup",
    [](const RequestContext& ctx, const Stage&) { return !ctx.view_.cache_bypass; },
    [](RequestContext& ctx, const Stage& stage) {
      return stage.instance->cache()->lookup(stage.instance->handle(), &ctx.view_);
    },
    [](RequestContext& ctx, const Stage&, outrigger_status) {
      ctx.closeSpan("miss");  // a hit answers through cache_done
      return true;
    },
    [](const Stage& stage, outrigger_request handle) {
      const auto* hooks = stage.instance->cache();
      if (OUTRIGGER_HAS_SLOT(hooks, outrigger_cache_hooks, on_cancel)) hooks->on_cancel(stage.instance->handle(), handle);
    },
};

// Every cache stores a provider's answer; nothing else is stored (a hit, a degraded answer, an
// error) and a caller's bypass or no-store is honoured. A refusal or a content-filtered answer
// is not an answer to serve again: the next caller asks the provider. Nor is an
// answer into which a guardrail restored this caller's own values (reversible redaction): the
// key is the redacted prompt, which another caller's different values redact to as well.
const StageHooks CacheStage::kStore = {
    "cache.store",
    [](const RequestContext& ctx, const Stage&) {
      return !ctx.from_cache_ && !ctx.view_.cache_bypass && !ctx.view_.cache_no_store &&
             ctx.provider_code_ == Code::kOk && !ctx.degraded_ && !ctx.answer_meta_.refusal &&
             ctx.finish_reason_ != "content_filter" && !ctx.answer_withheld_;
    },
    [](RequestContext& ctx, const Stage& stage) -> outrigger_status {
      outrigger_response_view answer = ctx.answerView(&ctx.answer_calls_);
      // After a re-ask the answer is stored under the conversation the lookup saw, not the re-ask's
      // (that, the rejected answer and the repair prompt), which no caller sends: the next caller
      // asking it gets the answer the guardrails accepted, in place of the one they rejected.
      // The view is the request's, as every hook's: valid until it ends.
      const outrigger_request_view* asked = &ctx.view_;
      if (ctx.asked_conversation_) {
        ctx.asked_conversation_->view = ctx.view_;
        ctx.asked_conversation_->view.messages = ctx.asked_conversation_->messages;
        ctx.asked_conversation_->view.message_count = ctx.asked_conversation_->count;
        asked = &ctx.asked_conversation_->view;
      }
      stage.instance->cache()->store(stage.instance->handle(), asked, &answer);
      return OUTRIGGER_OK;
    },
    [](RequestContext& ctx, const Stage&, outrigger_status) {
      ctx.closeSpan("stored");
      return true;
    },
    nullptr,
};

outrigger_status RequestContext::cacheDone(plugin::PluginInstance* inst, const outrigger_response_view* hit) {
  if (!pendingIs(StageKind::kCacheLookup, inst)) return OUTRIGGER_E_INVALID;
  pending_ = {};
  if (hit && hit->code == OUTRIGGER_CODE_OK && !answerTextIsUtf8(*hit)) {
    // A hit whose text is not UTF-8 is never served: a miss, and its span says why.
    addPluginSpanAttribute(inst, "outrigger.cache.error", "the stored answer's text is not UTF-8");
    closeSpan("miss");
  } else if (hit && hit->code == OUTRIGGER_CODE_OK) {
    closeSpan("hit");
    from_cache_ = true;
    copyFinal(*hit);
    if (view_.stream && stream_guard_) {
      // The route's chunk guardrails see a streamed hit as they see a provider's whole answer:
      // what they let through is the answer (it was stored before they, or a changed config, saw
      // it, or by a unary request that no chunk guardrail sees).
      content_.clear();
      tool_calls_.clear();
      stream_guard_->wholeAnswer(*hit);
      if (ended_) return OUTRIGGER_OK;
      if (!stream_guard_->providerFinished()) return OUTRIGGER_OK;  // streamGuardFinished goes on
      if (ended_) return OUTRIGGER_OK;
    } else if (view_.stream) {
      CacheStage::replayChunks(*this);
    }
    skipToResponseSteps();
  } else {
    closeSpan("miss");
  }
  resumeAfterCompletion();
  return OUTRIGGER_OK;
}

void RequestContext::streamGuardFinished() {
  if (!from_cache_) return provider_.finishAfterStreamGuard();
  if (ended_) return;
  skipToResponseSteps();
  resumeAfterCompletion();
}

// A cached answer to a streaming request goes out as a stream would (chunks of the route's
// replay size, cut between code points, then its tool calls), not as one chunk.
void CacheStage::replayChunks(RequestContext& ctx) { ctx.streamWholeAnswer(ctx.route_->cache_replay_chunk_bytes); }

}  // namespace outrigger::chain
