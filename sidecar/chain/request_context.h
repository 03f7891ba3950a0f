// One in-flight request: the C views plugins read, the step of its route's pipeline it is at,
// what has been answered so far, and its spans. The pipeline's plumbing lives here (run the
// steps in order, one pending plugin at a time, its completion or cancel, spans, on_error);
// what each kind of step does lives with its kind (stage_kind.h: guardrail_stage.cc,
// cache_stage.cc, provider_stage.h). Lives on its worker; freed after its timers have closed.
#pragma once

#include <uv.h>

#include <memory_resource>
#include <optional>
#include <string>
#include <vector>

#include <outrigger/plugin.h>

#include "api/response_sink.h"
#include "chain/call_input.h"
#include "chain/chain.h"
#include "chain/engine.h"
#include "chain/limiter_wait.h"
#include "chain/model_call.h"
#include "chain/owned_messages.h"
#include "chain/prompt_tokens.h"
#include "chain/provider_stage.h"
#include "chain/request_views.h"
#include "chain/stage_kind.h"
#include "chain/stream_guard.h"
#include "telemetry/request_record.h"

namespace outrigger::chain {

class RequestContext final {
 public:
  RequestContext(Engine& engine, outrigger_request handle, FrameBuffer frame, const wire::Request* request,
                 ResponseSink* sink, uint64_t stream_id);
  // A request given in process (no frame): the views point into `input`.
  RequestContext(Engine& engine, outrigger_request handle, std::unique_ptr<CallInput> input, ResponseSink* sink,
                 uint64_t stream_id);
  ~RequestContext();

  // Resolves the route, builds the views, arms the deadline and runs the pipeline.
  void begin();
  // Ends now with `code` unless already ended; cancels the pending plugin first.
  void cancelWith(Code code, std::string_view message, std::string_view origin);
  void detachSink() { sink_ = nullptr; }
  // Makes this an embeddings request; before begin().
  void setEmbed(std::unique_ptr<EmbedInput> embed) { embed_ = std::move(embed); }
  // A model call: it runs on its caller's snapshot, on the route it names and no other.
  void runAsChildOn(std::shared_ptr<const WorkerChain> chain) {
    chain_ = std::move(chain);
    child_ = true;
  }
  // An embeddings request's tokens ahead of its answer, for limits: its inputs' bytes / 4,
  // rounded up (token ids: one each), at least 1 (provider_embed.cc).
  uint64_t embedTokenEstimate() const;
  void setTenant(std::string tenant) { tenant_override_ = std::make_unique<std::string>(std::move(tenant)); }
  // The route by name, as the front was told (x-outrigger-route); the request's model is then
  // only the model, for a route that names none.
  void setRoute(std::string route) { route_override_ = std::make_unique<std::string>(std::move(route)); }
  void resume();
  // The tenant's label on request, token and cost series ([metrics] tenant_label, capped);
  // "" when that is off or the request has no tenant.
  std::string_view tenantLabel();

  outrigger_request handle() const { return handle_; }
  bool ended() const { return ended_; }
  uint64_t deadlineNs() const { return deadline_ns_; }

  // Host API completions; return an outrigger_status for the plugin.
  outrigger_status guardrailDone(plugin::PluginInstance* inst, outrigger_verdict verdict, std::string_view reason);
  outrigger_status cacheDone(plugin::PluginInstance* inst, const outrigger_response_view* hit);
  // The chunk guardrails decided on the end of an answer (a provider's, or a streamed cache hit's)
  // after the decision that came last was pending: the answer goes on to the response steps.
  void streamGuardFinished();
  outrigger_status providerChunk(plugin::PluginInstance* inst, const outrigger_chunk_view& chunk) {
    return provider_.chunk(inst, chunk);
  }
  outrigger_status providerDone(plugin::PluginInstance* inst, const outrigger_response_view& response) {
    return provider_.done(inst, response);
  }
  outrigger_status embeddingsDone(plugin::PluginInstance* inst, const outrigger_embeddings_view& embeddings) {
    return provider_.embeddingsDone(inst, embeddings);
  }
  // A pending guardrail hook's decision with what it changes (ABI 1.2 guardrail_decided).
  outrigger_status guardrailDecided(plugin::PluginInstance* inst, outrigger_status decision, outrigger_verdict verdict,
                                    std::string_view reason, const outrigger_guardrail_action* action);
  outrigger_status limiterDone(plugin::PluginInstance* inst, outrigger_code code, uint32_t retry_after_ms,
                               std::string_view reason);
  // A plugin's model call (ABI 1.2 complete/embed; one of the callbacks set): runs the call's
  // route as a child request under this one's deadline, cancel and tenant.
  outrigger_status startModelCall(plugin::PluginInstance* inst, const outrigger_model_call* call,
                                  outrigger_complete_callback complete, outrigger_embed_callback embed, void* user_data);
  outrigger_status setTimer(uint32_t delay_ms, outrigger_callback fn, void* user_data);
  // Per-request plugin state: one slot per instance, released after the request ends.
  outrigger_status setPluginState(plugin::PluginInstance* inst, void* state, void (*release)(void*));
  void* pluginState(plugin::PluginInstance* inst) const;
  // A plugin's attribute on its open span (host span_attribute): bounded in size and count.
  outrigger_status addPluginSpanAttribute(plugin::PluginInstance* inst, std::string_view key, std::string_view value);
  // The chain's model table entry with `model`'s token limits, preferring the providers of
  // the route's targets (host model_limits); nullptr when none has any.
  const cost::ModelPrice* modelLimits(std::string_view model) const;

  // uv close callbacks report here; the request frees itself after its last handle closes.
  void handleClosed();

  struct PluginTimer {
    uv_timer_t timer;
    RequestContext* owner;
    outrigger_callback fn;
    void* user_data;
  };

 private:
  // The stage kinds read and change the request's state.
  friend struct GuardrailStage;
  friend struct CacheStage;
  friend struct LimiterStage;
  friend class ProviderStage;
  friend class StreamGuard;
  friend class ModelCall;
  friend class LimiterWait;
  friend class QueueSeat;

  // The plugin whose hook has not completed yet; stage null when none.
  struct Pending {
    const Stage* stage = nullptr;
    StageKind kind = StageKind::kRequestGuardrail;
  };

  // A plugin's state on this request, and what frees it.
  struct PluginState {
    plugin::PluginInstance* instance;
    void* state;
    void (*release)(void*);
  };

  void buildViews();
  // The conversation from now on (a guardrail's REWRITE, a re-ask): every later step, the
  // provider and the record see `messages`.
  void replaceMessages(std::unique_ptr<OwnedMessages> messages);
  // A guardrail's new max_tokens (REWRITE with replace_max_tokens): later steps see it.
  void replaceMaxTokens(uint32_t max_tokens) {
    views_.params.present |= OUTRIGGER_PARAM_MAX_TOKENS;
    views_.params.max_tokens = max_tokens;
  }
  // Before the first re-ask replaces the conversation: keeps it for the caches' store.
  void keepAskedConversation();
  // A re-ask sets the answer aside (its usage and cost still count; a cache hit's had none) and
  // runs the provider again.
  void reaskProvider();
  void releasePluginStates();
  // The request ended: its model calls still running end CANCELLED (their callbacks run).
  void cancelModelCalls();
  // Runs steps from the current one until one is pending or the request ends.
  void advance();
  // Runs one step; true when it finished synchronously and advance() should go on.
  bool runStep(const Step& step);
  // The request's last word after the steps: the provider's outcome, or the degraded answer.
  void finish();
  // Makes `stage` of `kind` the pending one; checked by completePending.
  void setPending(const Stage& stage, StageKind kind) { pending_ = {&stage, kind}; }
  bool pendingIs(StageKind kind, plugin::PluginInstance* inst) const;
  // After a hook of the pending step returned: whether its completion (or the request's end)
  // already came inside the call. That completion stands, whatever the hook then returned: acting
  // on the return too would settle or decide the step twice. A return other than PENDING is
  // logged as the plugin's mistake.
  bool answeredInHook(const Stage& stage, outrigger_status rc);
  // A completion arrived for the pending step (already checked): goes on from here, or lets the
  // hook that is still running return first.
  void resumeAfterCompletion();
  // Jumps to the first response step (a cache hit answered), or past every step (a degraded
  // answer: no guardrail or cache sees the operator's text).
  void skipToResponseSteps() { step_ = route_->response_steps_from; }
  void skipAllSteps() { step_ = route_->steps.size(); }
  // The model the request asks for (the route's, else the caller's), and the one an attempt on
  // `target` calls (the target's own, else the request's).
  const std::string& requestModel() const { return route_->model.empty() ? caller_model_ : route_->model; }
  const std::string& modelFor(const Target& target) const {
    return target.model.empty() ? requestModel() : target.model;
  }
  std::string fallbackOrigin() const { return "fallback/" + route_->name; }

  // Calls a hook and records its span; flags slow hooks.
  template <class F>
  outrigger_status callHook(const Stage& stage, const char* span_stage, F&& hook);
  void closeSpan(std::string_view outcome);
  void closeSpanAt(size_t index, std::string_view outcome);
  // A hook failed (negative status). True when the request goes on (on_error = skip).
  // `returned`: what the hook returned, when that was not a status it may return (rc is then
  // OUTRIGGER_E_INVALID and the message names the value); CONTINUE when not that case.
  bool stageFailed(const Stage& stage, outrigger_status rc, const char* what, int returned = OUTRIGGER_CONTINUE);
  // What stageFailed does short of closing the latest span and ending the request: the counts, a
  // guardrail's verdict; returns the message.
  std::string noteStageFailure(const Stage& stage, outrigger_status rc, const char* what,
                               int returned = OUTRIGGER_CONTINUE);
  void recordVerdict(const std::string& guardrail, VerdictKind kind, const std::string& reason);
  void copyFinal(const outrigger_response_view& r);
  // What a provider's chunk or whole answer says about the answer besides its text (the model,
  // a refusal, fingerprint, tier): the first of each is kept for this attempt.
  void noteChunkHead(const outrigger_chunk_view& chunk);
  void noteAnswerMeta(const outrigger_response_view& r);
  // The answer so far as a view for plugins; `calls` backs its tool calls.
  outrigger_response_view answerView(std::vector<outrigger_tool_call_view>* calls) const;
  void sendChunk(std::string_view delta, const outrigger_chunk_view* chunk);
  // An answer that came whole (a cache hit, a provider that did not stream) to a client that
  // asked for a stream: its text in pieces of up to `piece_bytes` (0: one piece), cut between
  // code points, then its tool calls, one delta each. An empty answer is one empty chunk.
  void streamWholeAnswer(size_t piece_bytes);
  // Appends a chunk's text and tool-call deltas to an answer being assembled.
  static void appendChunk(const outrigger_chunk_view& chunk, std::string* content, std::vector<ToolCall>* tool_calls);
  // A chunk of the answer: it joins the answer, and goes to a streaming client.
  void takeChunk(const outrigger_chunk_view& chunk);
  void end(Code code, std::string_view message, std::string_view origin, bool retryable = false,
           uint32_t retry_after_ms = 0);
  void submitRecord(Code code, std::string_view message, std::string_view origin);
  void notifyPendingCancel();
  void closeTimers();
  static void onDeadline(uv_timer_t* t);
  static void onPluginTimer(uv_timer_t* t);

  Engine& engine_;
  outrigger_request handle_;
  FrameBuffer frame_;
  const wire::Request* request_;        // null for a request given in process
  std::unique_ptr<CallInput> input_;    // set for a request given in process
  ResponseSink* sink_;
  uint64_t stream_id_;
  std::shared_ptr<const WorkerChain> chain_;
  bool child_ = false;  // a plugin's model call (runAsChildOn)
  const Route* route_ = nullptr;

  // Views over frame_ and arena_.
  char arena_buffer_[2048];
  std::pmr::monotonic_buffer_resource arena_;
  outrigger_request_view view_{};  // the request as the route received it
  RequestViews views_;  // messages, params and metadata as the request's own storage holds them
  PromptTokenCounter prompt_tokens_;  // the prompt's tokens per encoding, counted when first asked
  std::string trace_id_;
  std::string model_;  // the model of the current attempt (the request's before one starts)
  std::string caller_model_;
  std::unique_ptr<std::string> tenant_override_;  // set by the front; else the request's own
  std::unique_ptr<std::string> route_override_;   // set by the front; else the model picks the route
  std::optional<std::string_view> tenant_label_;  // tenantLabel()'s answer, once asked

  // The pipeline: the next step to run and the hook that has not completed yet.
  size_t step_ = 0;
  Pending pending_;
  bool in_hook_ = false;
  bool attempt_cut_short_ = false;  // a cancel reached the pending provider attempt
  bool completed_in_hook_ = false;
  ProviderStage provider_{*this};
  LimiterWait limiter_wait_{*this};  // a limiter refused and the route queues over limits
  std::optional<StreamGuard> stream_guard_;  // set when the route's guardrails see chunks
  outrigger_guardrail_result guard_result_{};  // a guardrail's result given at once
  outrigger_limit_result limit_result_{};      // a limiter's refusal given at once
  std::vector<const Stage*> admitted_by_;      // limiters that admitted this request, in order
  uint32_t settlements_ = 0;                   // attempts settled with them
  std::vector<outrigger_tool_call_view> answer_calls_;  // backs the answer view a hook reads
  // What on_response and admit are given, kept here rather than on the stack: a hook that
  // answers PENDING may read them until it gives its decision.
  outrigger_response_view guard_answer_{};
  outrigger_limit_estimate limit_estimate_{};

  bool ended_ = false;
  bool answered_ = false;          // a provider answered OK (its usage is what the upstream used)
  bool reached_provider_ = false;  // a provider hook was called: the upstream may have acted
  bool degraded_ = false;          // the route's fallback_answer stands in for a failure
  bool paused_ = false;
  // The route exports records and the exporter queue had room when the request began: the
  // attempts' trace attributes are collected. A request that began with the queue full skips
  // them, and its record is shed at the end (counted) as it would have been when built.
  bool traced_ = false;

  // What the provider (or cache) produced, and how the provider step ended.
  bool from_cache_ = false;
  bool answer_withheld_ = false;  // a guardrail restored the caller's values into the answer
  std::string provider_error_type_, provider_error_code_;  // the last failed attempt's upstream words
  bool started_ = false;
  uint32_t chunk_seq_ = 0;
  std::string content_;
  std::vector<ToolCall> tool_calls_;
  std::string finish_reason_;
  std::string answer_model_;
  // What the upstream said about the answer besides its text, passed back as it was sent.
  struct AnswerMeta {
    bool refusal = false;              // the text is the model's refusal (OUTRIGGER_ANSWER_REFUSAL)
    // The refusal was said by the chunks themselves (OpenAI's delta.refusal), not only at the
    // end (Anthropic's stop_reason): what a streamed chunk is marked with, so a stream a
    // guardrail held until the end does not turn into a refusal halfway through.
    bool refusal_in_chunks = false;
    Usage start_usage;                 // the prompt's tokens as reported when a stream began
    std::string system_fingerprint, service_tier;
  };
  AnswerMeta answer_meta_;
  Usage usage_;
  double cost_usd_ = 0;
  bool cost_unpriced_ = false;  // an attempt's usage had no price (provider_cost.cc)
  Code provider_code_ = Code::kOk;
  bool provider_retryable_ = false;
  uint32_t provider_retry_after_ms_ = 0;
  std::string provider_message_;

  // What guardrails changed: the conversation they rewrote, the re-asks so far, and the usage
  // of the answers re-asks set aside (and of failed attempts whose upstream reported some).
  std::unique_ptr<OwnedMessages> messages_;
  // The conversation before the first re-ask replaced it, as the caches looked it up: a re-asked
  // answer is stored under it. `owned` holds it when a guardrail had rewritten it already; the
  // caller's own messages live as long as the request.
  struct AskedConversation {
    std::unique_ptr<OwnedMessages> owned;
    const outrigger_message_view* messages = nullptr;
    size_t count = 0;
    outrigger_request_view view{};  // the request's view with these messages, for the stores
  };
  std::optional<AskedConversation> asked_conversation_;
  uint32_t reasks_ = 0;
  Usage set_aside_usage_;
  double set_aside_cost_usd_ = 0;
  std::vector<PluginState> plugin_states_;
  std::vector<std::unique_ptr<ModelCall>> model_calls_;  // children, kept until this request frees

  // Embeddings mode: the inputs, and the vectors the provider returned.
  std::unique_ptr<EmbedInput> embed_;
  std::vector<outrigger_message_view> embed_messages_;  // the inputs, as view_'s messages
  std::vector<std::vector<float>> embeddings_;

  std::vector<Verdict> verdicts_;
  std::vector<telemetry::SpanRecord> spans_;
  uint64_t start_ns_ = 0;
  uint64_t start_wall_ns_ = 0;
  uint64_t first_chunk_ns_ = 0;
  uint64_t deadline_ns_ = 0;

  uv_timer_t deadline_timer_;
  std::vector<PluginTimer*> plugin_timers_;
  int open_handles_ = 0;
};

}  // namespace outrigger::chain
