// An embeddings request: one call to the route's first target's embed hook (no guardrails,
// cache or retries), and the vectors it returns.
#include <string>

#include "chain/call_hook.h"
#include "chain/limiter_stage.h"
#include "chain/provider_stage.h"
#include "chain/request_context.h"
#include "common/clock.h"
#include "plugin/str_view.h"

namespace outrigger::chain {

bool ProviderStage::runEmbed() {
  RequestContext& r = ctx_;
  if (r.route_->targets.empty() && implicit_targets_.empty()) {
    implicit_targets_.push_back({r.route_->provider, "", 1, 0, 0, 0, r.route_->provider.instance->name() + "/*"});
  }
  target_ = &routeTargets()[0];
  r.model_ = r.modelFor(*target_);
  const Stage& stage = target_->stage;
  const auto* hooks = stage.instance->provider();
  std::string cannot = "the route's provider '" + stage.instance->name() + "' cannot embed";
  if (!OUTRIGGER_HAS_SLOT(hooks, outrigger_provider_hooks, embed)) {
    r.end(Code::kUnimplemented, cannot, "router");
    return false;
  }
  if (r.embed_->token_ids && !stage.instance->embedsTokenIds()) {
    r.end(Code::kInvalidArgument,
          "the route's provider '" + stage.instance->name() + "' embeds text only: send 'input' as text, not token ids",
          "router");
    return false;
  }
  r.reached_provider_ = true;
  embed_inputs_.clear();
  for (const std::string& in : r.embed_->inputs) embed_inputs_.push_back({in.data(), in.size()});
  embed_view_ = {};
  embed_view_.hdr = OUTRIGGER_HEADER_INIT(outrigger_embed_request_view);
  embed_view_.handle = r.handle_;
  embed_view_.route = r.view_.route;
  embed_view_.model = {r.model_.data(), r.model_.size()};
  embed_view_.inputs = embed_inputs_.data();
  embed_view_.input_count = embed_inputs_.size();
  embed_view_.dimensions = r.embed_->dimensions;
  embed_view_.metadata = &r.views_.metadata;
  embed_view_.deadline_ns = r.deadline_ns_;
  embed_view_.extra_json = {r.embed_->extra_json.data(), r.embed_->extra_json.size()};
  embed_view_.trace_id = r.view_.trace_id;
  embed_view_.flags = r.embed_->token_ids ? OUTRIGGER_EMBED_TOKEN_IDS : 0;
  attempt_start_ns_ = monoNowNs();
  r.engine_.counters().attempts.fetch_add(1, std::memory_order_relaxed);
  r.setPending(stage, StageKind::kProvider);
  outrigger_status rc = r.callHook(stage, "provider.embed", [&] { return hooks->embed(stage.instance->handle(), &embed_view_); });
  if (rc == OUTRIGGER_PENDING) return r.completed_in_hook_;
  r.pending_ = {};
  if (rc == OUTRIGGER_E_UNSUPPORTED) {
    r.closeSpan("unsupported");
    r.end(Code::kUnimplemented, cannot, "router");
    return false;
  }
  if (rc >= 0) rc = OUTRIGGER_E_INVALID;  // a provider must answer through embeddings_done
  r.closeSpan("error");
  r.engine_.counters().plugin_errors.fetch_add(1, std::memory_order_relaxed);
  stage.instance->failures.fetch_add(1, std::memory_order_relaxed);
  r.end(Code::kInternal, "provider embed failed (plugin status " + std::to_string(rc) + ")", stage.origin);
  return false;
}

outrigger_status ProviderStage::embeddingsDone(plugin::PluginInstance* inst, const outrigger_embeddings_view& e) {
  RequestContext& r = ctx_;
  if (!r.embed_ || !isAttempt(inst)) return OUTRIGGER_E_INVALID;
  r.pending_ = {};
  r.provider_code_ = e.code >= 0 && e.code <= 16 ? static_cast<Code>(e.code) : Code::kUnknown;
  if (r.provider_code_ == Code::kOk && e.embedding_count != r.embed_->inputs.size()) {
    r.provider_code_ = Code::kInternal;
    r.provider_message_ = "provider returned " + std::to_string(e.embedding_count) + " embeddings for " +
                          std::to_string(r.embed_->inputs.size()) + " inputs";
  }
  if (r.provider_code_ != Code::kOk) {
    r.closeSpan("error");
    r.provider_retryable_ = e.retryable;
    r.provider_retry_after_ms_ = e.retry_after_ms;
    if (r.provider_message_.empty()) r.provider_message_.assign(sv(e.message));
    if (r.provider_message_.empty()) r.provider_message_ = "provider failed";
  } else {
    r.closeSpan("ok");
    r.embeddings_.resize(e.embedding_count);
    for (size_t i = 0; i < e.embedding_count; ++i) {
      const outrigger_embedding_view& v = e.embeddings[i];
      r.embeddings_[i].assign(v.values, v.values + (v.values ? v.size : 0));
    }
    r.usage_ = {e.usage.prompt_tokens, 0, 0, 0};
    std::string_view how;
    std::string entry;
    r.cost_usd_ = attemptCost(inst, sv(e.model), r.model_, r.usage_, e.cost_usd, &how, &entry);
    if (e.model.size) r.answer_model_.assign(e.model.data, e.model.size);
  }
  LimiterStage::settle(r, target_->key, r.provider_code_, true, r.usage_, r.cost_usd_);
  r.resumeAfterCompletion();
  return OUTRIGGER_OK;
}

}  // namespace outrigger::chain
