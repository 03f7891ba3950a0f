#include "chain/request_context.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>

#include "chain/call_hook.h"
#include "chain/request_json_depth.h"
#include "chain/request_views.h"
#include "common/clock.h"
#include "common/rate_limited_log.h"
#include "common/utf8.h"
#include "outrigger_generated.h"
#include "plugin/str_view.h"
#include "telemetry/exporter_thread.h"
#include "telemetry/span_trace.h"

namespace outrigger::chain {

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

void RequestContext::buildViews() {
  // The front decided the tenant from the caller's credentials (the socket's peer rules).
  if (tenant_override_) views_.metadata.tenant = {tenant_override_->data(), tenant_override_->size()};
  // A well-formed W3C traceparent from the caller keeps its trace id; otherwise (none, or one
  // whose ids are not hex or all zeros) the request starts a trace of its own.
  trace_id_ = telemetry::traceIdOf(sv(views_.metadata.traceparent));
  if (trace_id_.empty()) trace_id_ = engine_.newTraceId();
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
}

void RequestContext::begin() {
  start_ns_ = monoNowNs();
  start_wall_ns_ = wallNowNs();
  if (!chain_) chain_ = engine_.chain();
  const EngineSettings& es = engine_.settings();
  views_ = input_ ? viewsOf(*input_, &arena_) : viewsOf(*request_, &arena_);
  uint32_t timeout = views_.timeout_ms ? views_.timeout_ms : es.default_timeout_ms;
  if (timeout > es.max_timeout_ms) timeout = es.max_timeout_ms;
  deadline_ns_ = start_ns_ + uint64_t{timeout} * 1000000;
  if (input_ && input_->deadline_ns && input_->deadline_ns < deadline_ns_) {
    deadline_ns_ = std::max(input_->deadline_ns, start_ns_);
    timeout = uint32_t((deadline_ns_ - start_ns_ + 999999) / 1000000);
    // A model call capped at its caller's deadline: the caller's timer ends the caller and
    // cancels this call then; this one is a backstop set to fire just after it, in the loop's
    // time (the monotonic clock above can run ahead of the loop's cached time, which would make
    // this later-armed timer fire first, and the caller react to its child's deadline instead).
    if (input_->caller_timer_due_in_ms) timeout = uint32_t(std::min<uint64_t>(input_->caller_timer_due_in_ms + 1, UINT32_MAX));
  }
  uv_timer_start(&deadline_timer_, &RequestContext::onDeadline, timeout, 0);

  std::string_view model = views_.model;
  route_ = !chain_          ? nullptr
           : route_override_ ? chain_->findForCaller(*route_override_)
           : child_          ? chain_->find(model)
                             : chain_->resolve(model);
  if (!route_ && route_override_) {
    trace_id_ = engine_.newTraceId();
    return end(Code::kNotFound, "no route named '" + *route_override_ + "'", "router");
  }
  if (!route_ && !child_ && chain_) {
    if (const Route* internal = chain_->find(model); internal && internal->internal) {
      trace_id_ = engine_.newTraceId();
      return end(Code::kNotFound, "route '" + std::string(model) + "' is internal: only other routes' model calls reach it",
                 "router");
    }
  }
  if (!route_) {
    trace_id_ = engine_.newTraceId();
    // As the providers answer a model they do not serve: not found (OpenAI's model_not_found).
    return end(Code::kNotFound, "no route for model '" + std::string(model) + "' and no default route", "router");
  }
  buildViews();
  if (telemetry::ExporterThread* exporter = engine_.exporter(); exporter && !route_->exporters.empty()) {
    traced_ = !exporter->full();
  }
  if (route_->stream_guards && !embed_) stream_guard_.emplace(*this);
  if (embed_) {
    if (embed_->inputs.empty()) return end(Code::kInvalidArgument, "embeddings request has no input", "router");
    if (std::string deep = tooDeepJsonField(*embed_); !deep.empty()) return end(Code::kInvalidArgument, deep, "router");
    // Limiters (and the record) read the inputs as the request's messages: a loop guard tells
    // one embeddings request from another by them.
    embed_messages_.clear();
    for (const std::string& in : embed_->inputs) {
      outrigger_message_view m{};
      m.role = {"user", 4};
      m.content = {in.data(), in.size()};
      embed_messages_.push_back(m);
    }
    view_.messages = embed_messages_.data();
    view_.message_count = embed_messages_.size();
    advance();  // its limiters and its provider step (runStep skips the rest)
    return;
  }
  if (view_.message_count == 0) return end(Code::kInvalidArgument, "request has no messages", "router");
  if (std::string deep = tooDeepJsonField(view_); !deep.empty()) return end(Code::kInvalidArgument, deep, "router");
  advance();
}

// ------------------------------------------------------------------ the pipeline

void RequestContext::advance() {
  while (!ended_ && !pending_.stage) {
    if (step_ >= route_->steps.size()) return finish();
    if (!runStep(route_->steps[step_++])) return;
  }
}

bool RequestContext::runStep(const Step& step) {
  if (step.kind == StageKind::kProvider) return provider_.run();
  // Guardrails and caches read chat messages and answers: an embeddings request has neither.
  if (embed_ && step.kind != StageKind::kLimiterAdmit) return true;
  const Stage& stage = *step.stage;
  const StageHooks& hooks = stageHooks(step.kind);
  if (!hooks.applies(*this, stage)) return true;
  if (hooks.waits && hooks.waits(*this, stage)) return false;
  setPending(stage, step.kind);
  outrigger_status rc = callHook(stage, hooks.span, [&] { return hooks.call(*this, stage); });
  if (rc == OUTRIGGER_PENDING || answeredInHook(stage, rc)) return completed_in_hook_;
  pending_ = {};
  if (rc < 0) return stageFailed(stage, rc, hooks.span);
  // A value these hooks never return (HOLD, or garbage) is a broken plugin, not a decision to go
  // on: taken for CONTINUE, a limiter would admit and a guardrail pass by accident.
  if (rc != OUTRIGGER_CONTINUE && rc != OUTRIGGER_STOP) return stageFailed(stage, OUTRIGGER_E_INVALID, hooks.span, rc);
  return hooks.apply(*this, stage, rc) && !ended_;
}

void RequestContext::finish() {
  if (degraded_) return end(Code::kOk, "degraded answer: " + provider_message_, fallbackOrigin());
  end(provider_code_, provider_message_, provider_code_ == Code::kOk ? "" : provider_.stage().origin,
      provider_retryable_, provider_retry_after_ms_);
}

bool RequestContext::pendingIs(StageKind kind, plugin::PluginInstance* inst) const {
  return pending_.stage && pending_.kind == kind && pending_.stage->instance.get() == inst;
}

bool RequestContext::answeredInHook(const Stage& stage, outrigger_status rc) {
  if (pending_.stage == &stage) return false;
  if (rc != OUTRIGGER_PENDING) {
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, stage.origin,
              "completed its step inside the hook, then returned " + std::to_string(rc) +
                  " instead of PENDING; the completion stands");
  }
  return true;
}

void RequestContext::resumeAfterCompletion() {
  if (in_hook_) completed_in_hook_ = true;  // the hook's own return goes on from there
  else advance();
}

// The latest span still open: a hook's own span, unless a model call it made (whose span comes
// after it and is closed when the call ends) sits behind it.
void RequestContext::closeSpan(std::string_view outcome) {
  for (size_t i = spans_.size(); i-- > 0;) {
    if (!spans_[i].outcome.empty()) continue;
    auto& s = spans_[i];
    s.duration_ns = monoNowNs() - s.start_ns;
    s.outcome = std::string(outcome);
    return;
  }
}

namespace {
// Span attribute keys are string_views into this table, which only grows (bounded): records
// outlive requests, instances and reloads on the exporter thread.
std::string_view internedKey(std::string_view key) {
  static std::mutex mu;
  static std::set<std::string, std::less<>> keys;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = keys.find(key); it != keys.end()) return *it;
  if (keys.size() >= 1024) return {};
  return *keys.emplace(key).first;
}
}  // namespace

outrigger_status RequestContext::addPluginSpanAttribute(plugin::PluginInstance* inst, std::string_view key,
                                                        std::string_view value) {
  constexpr size_t kMaxPerSpan = 8;
  if (key.size() > 64 || key.substr(0, 10) != "outrigger." || value.size() > 256) return OUTRIGGER_E_INVALID;
  if (!validUtf8(key) || !validUtf8(value)) return OUTRIGGER_E_INVALID;  // a collector refuses the batch otherwise
  for (size_t i = spans_.size(); i-- > 0;) {
    auto& s = spans_[i];
    if (!s.outcome.empty() || s.instance != inst->name()) continue;
    if (s.attributes.size() >= kMaxPerSpan) return OUTRIGGER_E_INVALID;
    std::string_view k = internedKey(key);
    if (k.empty()) return OUTRIGGER_E_NOMEM;
    s.attributes.emplace_back(k, std::string(value));
    return OUTRIGGER_OK;
  }
  return OUTRIGGER_E_STALE;
}

const cost::ModelPrice* RequestContext::modelLimits(std::string_view model) const {
  const cost::PriceTable* table = chain_->prices.get();
  if (!table) return nullptr;
  // Each target's instance name, then its plugin type, as the target would be priced.
  std::vector<std::string_view> providers;
  for (const Target& target : route_->targets) {
    providers.push_back(target.stage.instance->name());
    providers.push_back(target.stage.instance->type().name);
  }
  return table->limitsOf(providers, model);
}

void RequestContext::closeSpanAt(size_t index, std::string_view outcome) {
  if (index >= spans_.size() || !spans_[index].outcome.empty()) return;
  auto& s = spans_[index];
  s.duration_ns = monoNowNs() - s.start_ns;
  s.outcome = std::string(outcome);
}

bool RequestContext::stageFailed(const Stage& stage, outrigger_status rc, const char* what, int returned) {
  closeSpan("error");
  std::string msg = noteStageFailure(stage, rc, what, returned);
  if (stage.instance->onError() == config::OnError::kSkip) return true;
  end(Code::kInternal, msg, stage.origin);
  return false;
}

std::string RequestContext::noteStageFailure(const Stage& stage, outrigger_status rc, const char* what, int returned) {
  engine_.counters().plugin_errors.fetch_add(1, std::memory_order_relaxed);
  stage.instance->failures.fetch_add(1, std::memory_order_relaxed);
  std::string msg = std::string(what) + " failed (plugin status " + std::to_string(rc) + ")";
  if (returned != OUTRIGGER_CONTINUE) msg = std::string(what) + " returned " + std::to_string(returned) + ", not a value it may return";
  if (stage.instance->kind() == OUTRIGGER_KIND_GUARDRAIL) {
    recordVerdict(stage.instance->name(),
                  stage.instance->onError() == config::OnError::kSkip ? VerdictKind::kSkipped : VerdictKind::kError, msg);
  }
  return msg;
}

namespace {
// How strict a verdict is; the wire values are not in that order (REWRITE and SKIPPED came later
// than DENY), and a deny after a rewrite must read as a deny.
int strictness(VerdictKind kind) {
  switch (kind) {
    case VerdictKind::kPass: return 0;
    case VerdictKind::kFlag: return 1;
    case VerdictKind::kRewrite: return 2;
    case VerdictKind::kSkipped: return 3;
    case VerdictKind::kError: return 4;
    case VerdictKind::kDeny: return 5;
  }
  return 0;
}
}  // namespace

// One verdict per guardrail: a later hook (response after request) can only make it stricter.
void RequestContext::recordVerdict(const std::string& guardrail, VerdictKind kind, const std::string& reason) {
  for (Verdict& v : verdicts_) {
    if (v.guardrail != guardrail) continue;
    if (strictness(kind) > strictness(v.kind)) {
      v.kind = kind;
      v.reason = reason;
    }
    return;
  }
  verdicts_.push_back({guardrail, kind, reason});
}

// ------------------------------------------------------------------ what guardrails change

void RequestContext::replaceMessages(std::unique_ptr<OwnedMessages> messages) {
  messages_ = std::move(messages);  // built from the old list before it goes
  views_.messages = const_cast<outrigger_message_view*>(messages_->data());
  views_.message_count = messages_->size();
  view_.messages = messages_->data();
  view_.message_count = messages_->size();
  prompt_tokens_.reset();
}

void RequestContext::keepAskedConversation() {
  if (asked_conversation_) return;
  asked_conversation_.emplace();
  asked_conversation_->messages = view_.messages;
  asked_conversation_->count = view_.message_count;
  asked_conversation_->owned = std::move(messages_);  // the views above point into it
}

void RequestContext::reaskProvider() {
  ++reasks_;
  engine_.counters().reasks.fetch_add(1, std::memory_order_relaxed);
  // A rejected cache hit cost nothing and used no tokens: the provider answers now.
  if (!from_cache_) {
    set_aside_usage_ += usage_;
    set_aside_cost_usd_ += cost_usd_;
  }
  from_cache_ = false;
  usage_ = {};
  cost_usd_ = 0;
  content_.clear();
  tool_calls_.clear();
  finish_reason_.clear();
  answer_model_.clear();
  answer_meta_ = {};
  step_ = route_->response_steps_from - 1;  // the provider step, then every response step again
  provider_.recountTokenNeeds();  // the re-ask's prompt is the old one, the answer and the repair
}

outrigger_status RequestContext::setPluginState(plugin::PluginInstance* inst, void* state, void (*release)(void*)) {
  for (PluginState& s : plugin_states_) {
    if (s.instance != inst) continue;
    PluginState old = s;
    s = {inst, state, release};
    if (old.release && old.state != state) old.release(old.state);
    return OUTRIGGER_OK;
  }
  plugin_states_.push_back({inst, state, release});
  return OUTRIGGER_OK;
}

void* RequestContext::pluginState(plugin::PluginInstance* inst) const {
  for (const PluginState& s : plugin_states_) {
    if (s.instance == inst) return s.state;
  }
  return nullptr;
}

void RequestContext::releasePluginStates() {
  std::vector<PluginState> states;
  states.swap(plugin_states_);
  for (const PluginState& s : states) {
    if (s.release) s.release(s.state);
  }
}

// ------------------------------------------------------------------ the answer

outrigger_response_view RequestContext::answerView(std::vector<outrigger_tool_call_view>* calls) const {
  calls->clear();
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
  setUsage(&resp, usage_);
  resp.cost_usd = cost_usd_;
  resp.model = {answer_model_.data(), answer_model_.size()};
  resp.flags = answer_meta_.refusal ? OUTRIGGER_ANSWER_REFUSAL : 0;
  resp.system_fingerprint = {answer_meta_.system_fingerprint.data(), answer_meta_.system_fingerprint.size()};
  resp.service_tier = {answer_meta_.service_tier.data(), answer_meta_.service_tier.size()};
  return resp;
}

void RequestContext::noteChunkHead(const outrigger_chunk_view& c) {
  if (c.flags & OUTRIGGER_ANSWER_REFUSAL) answer_meta_.refusal = answer_meta_.refusal_in_chunks = true;
  if (c.prompt_tokens && !answer_meta_.start_usage.prompt_tokens) {
    answer_meta_.start_usage.prompt_tokens = c.prompt_tokens;
    answer_meta_.start_usage.cached_tokens = c.cached_tokens;
    answer_meta_.start_usage.cache_write_tokens = c.cache_write_tokens;
  }
  if (c.model.size && answer_model_.empty()) answer_model_.assign(c.model.data, c.model.size);
  if (c.system_fingerprint.size && answer_meta_.system_fingerprint.empty()) {
    answer_meta_.system_fingerprint.assign(c.system_fingerprint.data, c.system_fingerprint.size);
  }
  if (c.service_tier.size && answer_meta_.service_tier.empty()) {
    answer_meta_.service_tier.assign(c.service_tier.data, c.service_tier.size);
  }
}

void RequestContext::noteAnswerMeta(const outrigger_response_view& r) {
  if (r.flags & OUTRIGGER_ANSWER_REFUSAL) answer_meta_.refusal = true;
  if (r.system_fingerprint.size) answer_meta_.system_fingerprint.assign(r.system_fingerprint.data, r.system_fingerprint.size);
  if (r.service_tier.size) answer_meta_.service_tier.assign(r.service_tier.data, r.service_tier.size);
}

void RequestContext::copyFinal(const outrigger_response_view& r) {
  noteAnswerMeta(r);
  if (r.content.size) content_.assign(r.content.data, r.content.size);
  if (r.finish_reason.size) finish_reason_.assign(r.finish_reason.data, r.finish_reason.size);
  if (r.model.size) answer_model_.assign(r.model.data, r.model.size);
  if (r.tool_calls && r.tool_call_count) {  // a plugin's NULL array is empty, whatever its count
    tool_calls_.clear();
    for (size_t i = 0; i < r.tool_call_count; ++i) {
      const auto& c = r.tool_calls[i];
      tool_calls_.push_back({std::string(sv(c.id)), std::string(sv(c.type)), std::string(sv(c.name)),
                             std::string(sv(c.arguments))});
    }
  }
  usage_ = usageOf(r);
  cost_usd_ = r.cost_usd;
}

void RequestContext::appendChunk(const outrigger_chunk_view& chunk, std::string* content,
                                 std::vector<ToolCall>* tool_calls) {
  content->append(sv(chunk.delta));
  for (size_t i = 0; chunk.tool_calls && i < chunk.tool_call_count; ++i) {
    const auto& d = chunk.tool_calls[i];
    if (d.index >= tool_calls->size()) tool_calls->resize(d.index + 1);
    ToolCall& c = (*tool_calls)[d.index];
    // A provider may repeat a call's id, type and name with every fragment: only the arguments
    // are always pieces.
    auto add = [](std::string* field, std::string_view piece) {
      if (piece != *field) field->append(piece);
    };
    add(&c.id, sv(d.id));
    add(&c.type, sv(d.type));
    add(&c.name, sv(d.name));
    c.arguments.append(sv(d.arguments));
  }
}

void RequestContext::takeChunk(const outrigger_chunk_view& chunk) {
  appendChunk(chunk, &content_, &tool_calls_);
  if (view_.stream) sendChunk(sv(chunk.delta), &chunk);
}

void RequestContext::sendChunk(std::string_view delta, const outrigger_chunk_view* chunk) {
  if (!sink_) return;
  if (!started_) {
    started_ = true;
    first_chunk_ns_ = monoNowNs();
    std::string origin = degraded_ ? fallbackOrigin() : std::string();
    ResponseStartInfo start{answer_model_.empty() ? std::string_view(model_) : std::string_view(answer_model_),
                            degraded_ ? std::string_view(origin) : std::string_view(provider_.stage().instance->name()),
                            from_cache_, trace_id_};
    start.system_fingerprint = answer_meta_.system_fingerprint;
    start.service_tier = answer_meta_.service_tier;
    start.prompt_usage = answer_meta_.start_usage;
    sink_->onStart(stream_id_, start);
  }
  std::vector<ToolCallDelta> deltas;
  if (chunk) {
    for (size_t i = 0; chunk->tool_calls && i < chunk->tool_call_count; ++i) {
      const auto& d = chunk->tool_calls[i];
      deltas.push_back({d.index, sv(d.id), sv(d.type), sv(d.name), sv(d.arguments)});
    }
  }
  ResponseChunkInfo info{chunk_seq_++, delta, deltas.data(), deltas.size(), handle_};
  info.refusal = answer_meta_.refusal_in_chunks;
  if (sink_->onChunk(stream_id_, info) == ResponseSink::Flow::kPause) paused_ = true;
}

void RequestContext::streamWholeAnswer(size_t piece_bytes) {
  answer_meta_.refusal_in_chunks = answer_meta_.refusal;  // known whole, as a unary answer's
  std::string_view rest = content_;
  while (!rest.empty() && sink_) {
    std::string_view piece = piece_bytes ? utf8Prefix(rest, piece_bytes) : rest;
    rest.remove_prefix(piece.size());
    sendChunk(piece, nullptr);
  }
  if (tool_calls_.empty()) {
    if (content_.empty()) sendChunk({}, nullptr);
    return;
  }
  std::vector<outrigger_tool_call_delta_view> deltas;
  for (size_t i = 0; i < tool_calls_.size(); ++i) {
    const ToolCall& c = tool_calls_[i];
    deltas.push_back({uint32_t(i), {c.id.data(), c.id.size()}, {c.type.data(), c.type.size()},
                      {c.name.data(), c.name.size()}, {c.arguments.data(), c.arguments.size()}});
  }
  outrigger_chunk_view calls{};
  calls.hdr = OUTRIGGER_HEADER_INIT(outrigger_chunk_view);
  calls.tool_calls = deltas.data();
  calls.tool_call_count = deltas.size();
  sendChunk({}, &calls);
}

std::string_view RequestContext::tenantLabel() {
  if (!tenant_label_) {
    telemetry::TenantLabels* labels = engine_.settings().tenant_labels;
    std::string_view tenant = sv(views_.metadata.tenant);
    tenant_label_ = labels && !tenant.empty() ? labels->label(tenant) : std::string_view();
  }
  return *tenant_label_;
}

}  // namespace outrigger::chain
