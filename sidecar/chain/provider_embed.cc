// Embeddings attempts. An embeddings request skips the route's guardrails and caches (they read
// chat messages and answers) but not its limiters, and its attempts go where the planner says,
// as a chat request's do: target limits, breakers, retries and fallback apply, and each attempt
// is priced. provider_stage.cc starts the attempt; this file calls the embed hook and takes its
// answer.
#include <algorithm>
#include <cmath>
#include <string>

#include "chain/call_hook.h"
#include "chain/provider_stage.h"
#include "chain/request_context.h"
#include "chain/span_attributes.h"
#include "common/clock.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

// What is wrong with a successful answer's vectors, or "": one per input, none empty, all of one
// length (the asked `dimensions` when given: many OpenAI-compatible servers ignore it), every
// value finite (the front writes them as JSON numbers, and a semantic cache compares them).
std::string malformedEmbeddings(const outrigger_embeddings_view& e, size_t inputs, uint32_t dimensions) {
  if (e.embedding_count != inputs) {
    return std::to_string(e.embedding_count) + " embeddings for " + std::to_string(inputs) + " inputs";
  }
  for (size_t i = 0; i < e.embedding_count; ++i) {
    const outrigger_embedding_view& v = e.embeddings[i];
    const size_t size = v.values ? v.size : 0;
    const std::string which = "embedding " + std::to_string(i);
    if (size == 0) return "an empty " + which;
    if (dimensions && size != dimensions) {
      return which + " of " + std::to_string(size) + " dimensions, " + std::to_string(dimensions) + " asked";
    }
    if (size != (e.embeddings[0].values ? e.embeddings[0].size : 0)) {
      return which + " of " + std::to_string(size) + " dimensions after one of " + std::to_string(e.embeddings[0].size);
    }
    for (size_t k = 0; k < size; ++k) {
      if (!std::isfinite(v.values[k])) return which + " with a value that is not a finite number";
    }
  }
  return {};
}

}  // namespace

uint64_t RequestContext::embedTokenEstimate() const {
  uint64_t tokens = 0;
  for (const std::string& in : embed_->inputs) {
    if (!embed_->token_ids) {
      tokens += (in.size() + 3) / 4;
    } else if (in.find_first_of("0123456789") != std::string::npos) {
      tokens += uint64_t(std::count(in.begin(), in.end(), ',')) + 1;  // "[9906,1917]": one per id
    }
  }
  return tokens ? tokens : 1;
}

std::string ProviderStage::embedRefusal(const Stage& stage, Code* code) const {
  const auto* hooks = stage.instance->provider();
  if (!OUTRIGGER_HAS_SLOT(hooks, outrigger_provider_hooks, embed)) {
    *code = Code::kUnimplemented;
    return "the route's provider '" + stage.instance->name() + "' cannot embed";
  }
  if (ctx_.embed_->token_ids && !stage.instance->embedsTokenIds()) {
    *code = Code::kInvalidArgument;
    return "the route's provider '" + stage.instance->name() + "' embeds text only: send 'input' as text, not token ids";
  }
  return "";
}

bool ProviderStage::passOver(Code code, const std::string& why) {
  RequestContext& r = ctx_;
  // Not the target's health, and not the request's fault if another target can: UNIMPLEMENTED
  // falls back and never counts against a breaker.
  resilience::Decision d = passToNext(OUTRIGGER_CODE_UNIMPLEMENTED);
  if (d.kind == resilience::Decision::Kind::kStart) return startAttempt(d.target);
  r.end(code, why, "router");
  return false;
}

outrigger_status ProviderStage::callEmbed(const Stage& stage) {
  RequestContext& r = ctx_;
  ++upstream_calls_;
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
  return r.callHook(stage, "provider.embed", [&] { return stage.instance->provider()->embed(stage.instance->handle(), &embed_view_); });
}

outrigger_status ProviderStage::embeddingsDone(plugin::PluginInstance* inst, const outrigger_embeddings_view& e) {
  RequestContext& r = ctx_;
  if (!r.embed_ || !isAttempt(inst)) return OUTRIGGER_E_INVALID;
  r.pending_ = {};
  endAttempt();
  outrigger_code code = e.code;
  bool retryable = e.retryable;
  std::string message(sv(e.message));
  if (code == OUTRIGGER_CODE_OK) {
    if (std::string wrong = malformedEmbeddings(e, r.embed_->inputs.size(), r.embed_->dimensions); !wrong.empty()) {
      code = OUTRIGGER_CODE_INTERNAL;
      retryable = false;
      message = "provider returned " + wrong;
    }
  }
  r.provider_code_ = code >= 0 && code <= 16 ? static_cast<Code>(code) : Code::kUnknown;
  std::string_view how;
  std::string entry;
  double cost = attemptCost(inst, sv(e.model), r.model_, Usage{e.usage.prompt_tokens, 0, 0, 0}, e.cost_usd, &how, &entry);
  if (traced()) describeAttemptCost(&r.spans_, attempt_span_, how, std::move(entry));
  // The attempt's outcome as a chat attempt's answer, so it takes the same way: the planner
  // retries, falls back or gives up; a success settles, measures and describes the attempt.
  outrigger_response_view answer{};
  answer.hdr = OUTRIGGER_HEADER_INIT(outrigger_response_view);
  answer.code = code;
  answer.message = {message.data(), message.size()};
  answer.retryable = retryable ? 1 : 0;
  answer.retry_after_ms = e.retry_after_ms;
  answer.model = e.model;
  answer.usage = {e.usage.prompt_tokens, 0, 0, 0};
  answer.cost_usd = cost;
  if (r.provider_code_ != Code::kOk) {
    if (failed(answer)) return OUTRIGGER_OK;  // another attempt starts after its backoff
    r.resumeAfterCompletion();
    return OUTRIGGER_OK;
  }
  succeeded(answer);
  r.embeddings_.resize(e.embedding_count);
  for (size_t i = 0; i < e.embedding_count; ++i) {
    const outrigger_embedding_view& v = e.embeddings[i];
    r.embeddings_[i].assign(v.values, v.values + (v.values ? v.size : 0));
  }
  r.resumeAfterCompletion();
  return OUTRIGGER_OK;
}

}  // namespace outrigger::chain
