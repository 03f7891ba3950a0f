#include "chain/request_context.h"

#include <cstring>

#include "chain/call_hook.h"
#include "chain/request_json_depth.h"
#include "chain/request_views.h"
#include "common/clock.h"
#include "common/log.h"
#include "http_client/http_client.h"
#include "outrigger_generated.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

namespace w = outrigger::wire;

outrigger_str view(const flatbuffers::String* s) {
  return s ? outrigger_str{s->c_str(), s->size()} : outrigger_str{nullptr, 0};
}

Code toCode(outrigger_code c) {
  return c >= 0 && c <= 16 ? static_cast<Code>(c) : Code::kUnknown;
}

}  // namespace

RequestContext::RequestContext(Engine& engine, outrigger_request handle, FrameBuffer frame,
                               const wire::Request* request, ResponseSink* sink, uint64_t stream_id)
    : engine_(engine),
      handle_(handle),
      frame_(std::move(frame)),
      request_(request),
      sink_(sink),
      stream_id_(stream_id),
      arena_(arena_buffer_, sizeof arena_buffer_) {
  uv_timer_init(engine_.loop().loop(), &deadline_timer_);
  deadline_timer_.data = this;
  open_handles_ = 1;
}

RequestContext::RequestContext(Engine& engine, outrigger_request handle, std::unique_ptr<CallInput> input,
                               ResponseSink* sink, uint64_t stream_id)
    : RequestContext(engine, handle, FrameBuffer{}, nullptr, sink, stream_id) {
  input_ = std::move(input);
}

RequestContext::~RequestContext() = default;

bool RequestContext::buildViews() {
  // The front decided the tenant from the caller's credentials (the socket's peer rules).
  if (tenant_override_) views_.metadata.tenant = {tenant_override_->data(), tenant_override_->size()};
  // A W3C traceparent from the caller keeps its trace id; otherwise mint one.
  std::string_view tp = sv(views_.metadata.traceparent);
  trace_id_ = tp.size() >= 55 && tp[2] == '-' ? std::string(tp.substr(3, 32)) : engine_.newTraceId();
  caller_model_ = std::string(views_.model);
  model_ = requestModel();

  view_.hdr = OUTRIGGER_HEADER_INIT(outrigger_request_view);
  view_.handle = handle_;
  view_.route = {route_->name.data(), route_->name.size()};
  view_.model = {requestModel().data(), requestModel().size()};  // stays: attempts get their own view
  view_.messages = views_.messages;
  view_.message_count = views_.message_count;
  view_.params = &views_.params;
  view_.metadata = &views_.metadata;
  view_.deadline_ns = deadline_ns_;
  view_.stream = views_.stream;
  view_.cache_bypass = views_.cache_bypass;
  view_.cache_no_store = views_.cache_no_store;
  view_.cache_ttl_ms = views_.cache_ttl_ms;
  view_.trace_id = {trace_id_.data(), trace_id_.size()};
  return true;
}

void RequestContext::begin() {
  start_ns_ = monoNowNs();
  start_wall_ns_ = wallNowNs();
  chain_ = engine_.chain();
  const EngineSettings& es = engine_.settings();
  views_ = input_ ? viewsOf(*input_, &arena_) : viewsOf(*request_, &arena_);
  uint32_t timeout = views_.timeout_ms ? views_.timeout_ms : es.default_timeout_ms;
  if (timeout > es.max_timeout_ms) timeout = es.max_timeout_ms;
  deadline_ns_ = start_ns_ + uint64_t{timeout} * 1000000;
  uv_timer_start(&deadline_timer_, &RequestContext::onDeadline, timeout, 0);

  std::string_view model = views_.model;
  route_ = chain_ ? chain_->resolve(model) : nullptr;
  if (!route_) {
    trace_id_ = engine_.newTraceId();
    return end(Code::kInvalidArgument, "no route for model '" + std::string(model) + "' and no default route", "router");
  }
  buildViews();
  if (embed_) {
    if (embed_->inputs.empty()) return end(Code::kInvalidArgument, "embeddings request has no input", "router");
    if (std::string deep = tooDeepJsonField(*embed_); !deep.empty()) return end(Code::kInvalidArgument, deep, "router");
    phase_ = Phase::kEmbed;
    return advance();
  }
  if (view_.message_count == 0) return end(Code::kInvalidArgument, "request has no messages", "router");
  if (std::string deep = tooDeepJsonField(view_); !deep.empty()) return end(Code::kInvalidArgument, deep, "router");
  advance();
}

// ------------------------------------------------------------------ stage machine

void RequestContext::closeSpan(std::string_view outcome) {
  if (spans_.empty() || !spans_.back().outcome.empty()) return;
  auto& s = spans_.back();
  s.duration_ns = monoNowNs() - s.start_ns;
  s.outcome = std::string(outcome);
}

// A hook failed (negative status). Returns true when the request goes on (on_error = skip).
bool RequestContext::stageFailed(const Stage& stage, outrigger_status rc, const char* what) {
  closeSpan("error");
  engine_.counters().plugin_errors.fetch_add(1, std::memory_order_relaxed);
  stage.instance->failures.fetch_add(1, std::memory_order_relaxed);
  std::string msg = std::string(what) + " failed (plugin status " + std::to_string(rc) + ")";
  if (stage.instance->kind() == OUTRIGGER_KIND_GUARDRAIL) {
    recordVerdict(stage.instance->name(),
                  stage.instance->onError() == config::OnError::kSkip ? VerdictKind::kSkipped : VerdictKind::kError, msg);
  }
  if (stage.instance->onError() == config::OnError::kSkip) return true;
  end(Code::kInternal, msg, stage.origin);
  return false;
}

void RequestContext::advance() {
  while (!ended_ && waiting_ == Waiting::kNothing) {
    switch (phase_) {
      case Phase::kGuardIn:
        if (!runGuardrailIn()) return;
        break;
      case Phase::kCacheLookup:
        if (!runCacheLookup()) return;
        break;
      case Phase::kProvider:
        if (!runProvider()) return;
        break;
      case Phase::kGuardOut:
        if (!runGuardrailOut()) return;
        break;
      case Phase::kEmbed:
        if (!runEmbed()) return;
        break;
      case Phase::kCacheStore:
        runCacheStore();
        phase_ = Phase::kDone;
        break;
      case Phase::kDone:
        if (degraded_) return end(Code::kOk, "degraded answer: " + provider_message_, fallbackOrigin());
        end(provider_code_, provider_message_, provider_code_ == Code::kOk ? "" : providerStage().origin,
            provider_retryable_, provider_retry_after_ms_);
        return;
    }
  }
}

// One verdict per guardrail: a later hook (response after request) can only make it stricter.
void RequestContext::recordVerdict(const std::string& guardrail, VerdictKind kind, const std::string& reason) {
  for (Verdict& v : verdicts_) {
    if (v.guardrail != guardrail) continue;
    if (static_cast<int>(kind) > static_cast<int>(v.kind)) {
      v.kind = kind;
      v.reason = reason;
    }
    return;
  }
  verdicts_.push_back({guardrail, kind, reason});
}

void RequestContext::applyVerdict(const Stage& stage, const outrigger_guardrail_result& result, outrigger_status rc) {
  std::string reason(sv(result.reason));
  if (rc == OUTRIGGER_STOP || result.verdict == OUTRIGGER_VERDICT_DENY) {
    recordVerdict(stage.instance->name(), VerdictKind::kDeny, reason);
    closeSpan("stop");
    end(Code::kPermissionDenied, reason.empty() ? "denied by guardrail" : reason, stage.origin);
    return;
  }
  VerdictKind kind = result.verdict == OUTRIGGER_VERDICT_FLAG ? VerdictKind::kFlag : VerdictKind::kPass;
  recordVerdict(stage.instance->name(), kind, reason);
  closeSpan(kind == VerdictKind::kFlag ? "flag" : "continue");
}

bool RequestContext::runGuardrailIn() {
  if (stage_index_ >= route_->guardrails.size()) {
    phase_ = Phase::kCacheLookup;
    stage_index_ = 0;
    return true;
  }
  const Stage& stage = route_->guardrails[stage_index_++];
  const auto* hooks = stage.instance->guardrail();
  if (!OUTRIGGER_HAS_SLOT(hooks, outrigger_guardrail_hooks, on_request)) return true;
  outrigger_guardrail_result result{};
  waiting_ = Waiting::kGuardrail;
  waiting_stage_ = &stage;
  outrigger_status rc = callHook(stage, "guardrail.request", [&] {
    return hooks->on_request(stage.instance->handle(), &view_, &result);
  });
  if (rc == OUTRIGGER_PENDING) return completed_in_hook_;
  waiting_ = Waiting::kNothing;
  if (rc < 0) return stageFailed(stage, rc, "guardrail on_request");
  applyVerdict(stage, result, rc);
  return !ended_;
}

outrigger_status RequestContext::callProviderStart(const Stage& stage, const outrigger_request_view* view) {
  return callHook(stage, "provider", [&] { return stage.instance->provider()->start(stage.instance->handle(), view); });
}

bool RequestContext::startAttempt(size_t index) {
  target_ = &routeTargets()[index];
  model_ = modelFor(*target_);
  // The provider gets the target's model in a view of its own; stages before and after it (and
  // the cache key) keep seeing the request as the route received it.
  attempt_view_ = view_;
  attempt_view_.model = {model_.data(), model_.size()};
  content_.clear();  // a failed unary attempt leaves nothing behind
  tool_calls_.clear();
  planner_->started();
  attempt_start_ns_ = monoNowNs();
  endAttempt();
  attempt_health_ = &engine_.health().target(target_->key, route_->policy);
  ++attempt_health_->in_flight;
  if (attempt_health_->tpm.limited()) {
    // The prompt's estimate now; the answer's usage corrects it (settleTokens).
    attempt_health_->tpm.charge(attempt_start_ns_, token_estimate_);
    attempt_tokens_ = {&attempt_health_->tpm, token_estimate_};
  }
  ++attempt_number_;
  reached_provider_ = true;
  engine_.counters().attempts.fetch_add(1, std::memory_order_relaxed);
  const Stage& stage = target_->stage;
  waiting_ = Waiting::kProvider;
  waiting_stage_ = &stage;
  attempt_span_ = spans_.size();
  outrigger_status rc = callProviderStart(stage, &attempt_view_);
  if (rc == OUTRIGGER_PENDING) {
    if (!completed_in_hook_) armHedge();
    return completed_in_hook_;
  }
  waiting_ = Waiting::kNothing;
  if (rc >= 0) rc = OUTRIGGER_E_INVALID;  // a provider must answer through provider_done
  settleTokens(&attempt_tokens_, 0);      // it never reached the upstream
  stageFailed(stage, rc, "provider start");
  if (!ended_) end(Code::kInternal, "provider failed to start", stage.origin);
  return false;
}

bool RequestContext::runEmbed() {
  phase_ = Phase::kDone;
  if (route_->targets.empty() && implicit_targets_.empty()) {
    implicit_targets_.push_back({route_->provider, "", 1, 0, 0, 0, route_->provider.instance->name() + "/*"});
  }
  target_ = &routeTargets()[0];
  model_ = modelFor(*target_);
  const Stage& stage = target_->stage;
  const auto* hooks = stage.instance->provider();
  if (!OUTRIGGER_HAS_SLOT(hooks, outrigger_provider_hooks, embed)) {
    end(Code::kUnimplemented, "the route's provider '" + stage.instance->name() + "' cannot embed", "router");
    return false;
  }
  reached_provider_ = true;
  embed_inputs_.clear();
  for (const std::string& in : embed_->inputs) embed_inputs_.push_back({in.data(), in.size()});
  embed_view_ = {};
  embed_view_.hdr = OUTRIGGER_HEADER_INIT(outrigger_embed_request_view);
  embed_view_.handle = handle_;
  embed_view_.route = view_.route;
  embed_view_.model = {model_.data(), model_.size()};
  embed_view_.inputs = embed_inputs_.data();
  embed_view_.input_count = embed_inputs_.size();
  embed_view_.dimensions = embed_->dimensions;
  embed_view_.metadata = &views_.metadata;
  embed_view_.deadline_ns = deadline_ns_;
  embed_view_.extra_json = {embed_->extra_json.data(), embed_->extra_json.size()};
  embed_view_.trace_id = view_.trace_id;
  attempt_start_ns_ = monoNowNs();
  engine_.counters().attempts.fetch_add(1, std::memory_order_relaxed);
  waiting_ = Waiting::kProvider;
  waiting_stage_ = &stage;
  outrigger_status rc = callHook(stage, "provider.embed", [&] {
    return hooks->embed(stage.instance->handle(), &embed_view_);
  });
  if (rc == OUTRIGGER_PENDING) return completed_in_hook_;
  waiting_ = Waiting::kNothing;
  if (rc == OUTRIGGER_E_UNSUPPORTED) {
    closeSpan("unsupported");
    end(Code::kUnimplemented, "the route's provider '" + stage.instance->name() + "' cannot embed", "router");
    return false;
  }
  if (rc >= 0) rc = OUTRIGGER_E_INVALID;  // a provider must answer through embeddings_done
  closeSpan("error");
  engine_.counters().plugin_errors.fetch_add(1, std::memory_order_relaxed);
  stage.instance->failures.fetch_add(1, std::memory_order_relaxed);
  end(Code::kInternal, "provider embed failed (plugin status " + std::to_string(rc) + ")", stage.origin);
  return false;
}

// The answer so far as a view for plugins; `calls` backs its tool calls.
outrigger_response_view RequestContext::answerView(std::vector<outrigger_tool_call_view>* calls) const {
  for (const auto& c : tool_calls_) {
    calls->push_back({{c.id.data(), c.id.size()}, {c.type.data(), c.type.size()},
                      {c.name.data(), c.name.size()}, {c.arguments.data(), c.arguments.size()}});
  }
  outrigger_response_view resp{};
  resp.hdr = OUTRIGGER_HEADER_INIT(outrigger_response_view);
  resp.content = {content_.data(), content_.size()};
  resp.finish_reason = {finish_reason_.data(), finish_reason_.size()};
  resp.tool_calls = calls->data();
  resp.tool_call_count = calls->size();
  resp.usage = {usage_.prompt_tokens, usage_.completion_tokens, usage_.cached_tokens, usage_.reasoning_tokens};
  resp.cost_usd = cost_usd_;
  resp.model = {answer_model_.data(), answer_model_.size()};
  return resp;
}

bool RequestContext::runGuardrailOut() {
  if (stage_index_ >= route_->guardrails.size()) {
    phase_ = Phase::kCacheStore;
    return true;
  }
  const Stage& stage = route_->guardrails[stage_index_++];
  const auto* hooks = stage.instance->guardrail();
  if (!OUTRIGGER_HAS_SLOT(hooks, outrigger_guardrail_hooks, on_response)) return true;
  std::vector<outrigger_tool_call_view> calls;
  outrigger_response_view resp = answerView(&calls);
  outrigger_guardrail_result result{};
  waiting_ = Waiting::kGuardrail;
  waiting_stage_ = &stage;
  outrigger_status rc = callHook(stage, "guardrail.response", [&] {
    return hooks->on_response(stage.instance->handle(), &view_, &resp, &result);
  });
  if (rc == OUTRIGGER_PENDING) return completed_in_hook_;
  waiting_ = Waiting::kNothing;
  if (rc < 0) return stageFailed(stage, rc, "guardrail on_response");
  applyVerdict(stage, result, rc);
  return !ended_;
}

// ------------------------------------------------------------------ completions

outrigger_status RequestContext::guardrailDone(plugin::PluginInstance* inst, outrigger_verdict verdict,
                                               std::string_view reason) {
  if (waiting_ != Waiting::kGuardrail || waiting_stage_->instance.get() != inst) return OUTRIGGER_E_INVALID;
  const Stage& stage = *waiting_stage_;
  waiting_ = Waiting::kNothing;
  outrigger_guardrail_result result{verdict, {reason.data(), reason.size()}};
  applyVerdict(stage, result, verdict == OUTRIGGER_VERDICT_DENY ? OUTRIGGER_STOP : OUTRIGGER_CONTINUE);
  if (in_hook_) completed_in_hook_ = true;
  else advance();
  return OUTRIGGER_OK;
}

void RequestContext::copyFinal(const outrigger_response_view& r) {
  if (r.content.size) content_.assign(r.content.data, r.content.size);
  if (r.finish_reason.size) finish_reason_.assign(r.finish_reason.data, r.finish_reason.size);
  if (r.model.size) answer_model_.assign(r.model.data, r.model.size);
  if (r.tool_call_count) {
    tool_calls_.clear();
    for (size_t i = 0; i < r.tool_call_count; ++i) {
      const auto& c = r.tool_calls[i];
      tool_calls_.push_back({std::string(sv(c.id)), std::string(sv(c.type)), std::string(sv(c.name)),
                             std::string(sv(c.arguments))});
    }
  }
  usage_ = {r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_tokens, r.usage.reasoning_tokens};
  cost_usd_ = r.cost_usd;
}

void RequestContext::sendChunk(std::string_view delta, const outrigger_chunk_view* chunk) {
  if (!sink_) return;
  if (!started_) {
    started_ = true;
    first_chunk_ns_ = monoNowNs();
    std::string origin = degraded_ ? fallbackOrigin() : std::string();
    sink_->onStart(stream_id_, {model_, degraded_ ? std::string_view(origin) : std::string_view(providerStage().instance->name()),
                                from_cache_, trace_id_});
  }
  std::vector<ToolCallDelta> deltas;
  if (chunk) {
    for (size_t i = 0; i < chunk->tool_call_count; ++i) {
      const auto& d = chunk->tool_calls[i];
      deltas.push_back({d.index, sv(d.id), sv(d.type), sv(d.name), sv(d.arguments)});
    }
  }
  ResponseChunkInfo info{chunk_seq_++, delta, deltas.data(), deltas.size(), handle_};
  if (sink_->onChunk(stream_id_, info) == ResponseSink::Flow::kPause) paused_ = true;
}

outrigger_status RequestContext::providerChunk(plugin::PluginInstance* inst, const outrigger_chunk_view& chunk) {
  if (embed_) return OUTRIGGER_E_INVALID;  // an embed call answers through embeddings_done only
  bool hedge = isHedge(inst);
  if (!hedge && (waiting_ != Waiting::kProvider || waiting_stage_->instance.get() != inst)) return OUTRIGGER_E_INVALID;
  // Guardrails see every chunk before the client does.
  for (const Stage& g : route_->guardrails) {
    const auto* hooks = g.instance->guardrail();
    if (!OUTRIGGER_HAS_SLOT(hooks, outrigger_guardrail_hooks, on_chunk)) continue;
    outrigger_guardrail_result result{};
    outrigger_status rc = hooks->on_chunk(g.instance->handle(), &view_, &chunk, &result);
    if (rc == OUTRIGGER_STOP || result.verdict == OUTRIGGER_VERDICT_DENY || (rc < 0 && g.instance->onError() == config::OnError::kDeny)) {
      std::string reason(sv(result.reason));
      recordVerdict(g.instance->name(), VerdictKind::kDeny, reason);
      stopped_by_chunk_ = true;
      cancelWith(Code::kPermissionDenied, reason.empty() ? "stream denied by guardrail" : reason, g.origin);
      return OUTRIGGER_E_STALE;
    }
  }
  std::string_view delta = sv(chunk.delta);
  // A hedge (unary only) collects its own answer until it wins.
  std::string& content = hedge ? hedge_.content : content_;
  std::vector<ToolCall>& tool_calls = hedge ? hedge_.tool_calls : tool_calls_;
  content.append(delta);
  for (size_t i = 0; i < chunk.tool_call_count; ++i) {
    const auto& d = chunk.tool_calls[i];
    if (d.index >= tool_calls.size()) tool_calls.resize(d.index + 1);
    ToolCall& c = tool_calls[d.index];
    c.id.append(sv(d.id));
    c.type.append(sv(d.type));
    c.name.append(sv(d.name));
    c.arguments.append(sv(d.arguments));
  }
  if (view_.stream && !hedge) sendChunk(delta, &chunk);
  if (ended_) return OUTRIGGER_E_STALE;
  return paused_ ? OUTRIGGER_PAUSE : OUTRIGGER_OK;
}

outrigger_status RequestContext::providerDone(plugin::PluginInstance* inst, const outrigger_response_view& r) {
  if (embed_) return OUTRIGGER_E_INVALID;  // an embed call answers through embeddings_done only
  bool hedge = isHedge(inst);
  if (!hedge && (waiting_ != Waiting::kProvider || waiting_stage_->instance.get() != inst)) return OUTRIGGER_E_INVALID;
  if (hedge_.target) {
    if (toCode(r.code) != Code::kOk) {
      hedgedFailure(inst, r);  // the other attempt goes on
      return OUTRIGGER_OK;
    }
    // The first success wins; the other attempt is cancelled now.
    if (hedge) {
      cancelCurrentForHedge();
      promoteHedge();
      engine_.counters().hedge_wins.fetch_add(1, std::memory_order_relaxed);
      planner_->hedgeWon();
    } else {
      cancelHedge();
    }
  }
  waiting_ = Waiting::kNothing;
  provider_code_ = toCode(r.code);
  endAttempt();
  if (provider_code_ != Code::kOk) {
    closeSpanAt(attempt_span_, "error");
    settleTokens(&attempt_tokens_, 0);  // a failed attempt gives its estimate back
    provider_retryable_ = r.retryable;
    provider_retry_after_ms_ = r.retry_after_ms;
    provider_message_.assign(sv(r.message));
    if (provider_message_.empty()) provider_message_ = "provider failed";
    resilience::Decision d = planner_->afterFailure(monoNowNs(), {r.code, r.retryable != 0, r.retry_after_ms},
                                                    /*chunk_sent=*/chunk_seq_ > 0);
    recordDecision(d);
    if (d.kind == resilience::Decision::Kind::kStart) {
      // Never from inside the plugin's call: the next attempt starts from the loop.
      next_target_ = d.target;
      if (setTimer(d.delay_ms, &RequestContext::onAttemptTimer, this) == OUTRIGGER_OK) return OUTRIGGER_OK;
    }
    serveFallbackAnswer(provider_message_);
    phase_ = Phase::kDone;
  } else {
    planner_->succeeded();
    // Latency for lowest-latency routing: to the first chunk when one was sent, else to the answer.
    uint64_t now = monoNowNs();
    uint64_t until = first_chunk_ns_ > attempt_start_ns_ ? first_chunk_ns_ : now;
    resilience::TargetHealth& health = engine_.health().target(target_->key, route_->policy);
    health.latency.add(double(until - attempt_start_ns_) / 1e6);
    settleTokens(&attempt_tokens_, usedTokens(r.usage.prompt_tokens, r.usage.completion_tokens, attempt_tokens_.charged));
    answered_ = true;
    closeSpanAt(attempt_span_, "ok");
    std::string streamed = std::move(content_);
    copyFinal(r);
    if (r.content.size == 0) content_ = std::move(streamed);
    // A provider that answered whole still streams to a client that asked for chunks.
    if (view_.stream && chunk_seq_ == 0 && !content_.empty()) sendChunk(content_, nullptr);
    if (finish_reason_.empty()) finish_reason_ = "stop";
    phase_ = Phase::kGuardOut;
    stage_index_ = 0;
  }
  if (in_hook_) completed_in_hook_ = true;
  else advance();
  return OUTRIGGER_OK;
}

outrigger_status RequestContext::embeddingsDone(plugin::PluginInstance* inst, const outrigger_embeddings_view& e) {
  if (!embed_ || waiting_ != Waiting::kProvider || waiting_stage_->instance.get() != inst) return OUTRIGGER_E_INVALID;
  waiting_ = Waiting::kNothing;
  provider_code_ = toCode(e.code);
  if (provider_code_ == Code::kOk && e.embedding_count != embed_->inputs.size()) {
    provider_code_ = Code::kInternal;
    provider_message_ = "provider returned " + std::to_string(e.embedding_count) + " embeddings for " +
                        std::to_string(embed_->inputs.size()) + " inputs";
  }
  if (provider_code_ != Code::kOk) {
    closeSpan("error");
    provider_retryable_ = e.retryable;
    provider_retry_after_ms_ = e.retry_after_ms;
    if (provider_message_.empty()) provider_message_.assign(sv(e.message));
    if (provider_message_.empty()) provider_message_ = "provider failed";
  } else {
    closeSpan("ok");
    embeddings_.resize(e.embedding_count);
    for (size_t i = 0; i < e.embedding_count; ++i) {
      const outrigger_embedding_view& v = e.embeddings[i];
      embeddings_[i].assign(v.values, v.values + (v.values ? v.size : 0));
    }
    usage_ = {e.usage.prompt_tokens, 0, 0, 0};
    cost_usd_ = e.cost_usd;
    if (e.model.size) answer_model_.assign(e.model.data, e.model.size);
  }
  phase_ = Phase::kDone;
  if (in_hook_) completed_in_hook_ = true;
  else advance();
  return OUTRIGGER_OK;
}

}  // namespace outrigger::chain
