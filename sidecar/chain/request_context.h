// One in-flight request: the C views plugins read, the stage it is at, what the provider has
// produced so far, and its spans. Lives on its worker; freed after its timers have closed.
#pragma once

#include <uv.h>

#include <memory_resource>
#include <string>
#include <vector>

#include <outrigger/plugin.h>

#include "api/response_sink.h"
#include "chain/chain.h"
#include "chain/call_input.h"
#include "chain/engine.h"
#include "chain/request_views.h"
#include "resilience/attempt_planner.h"
#include "telemetry/request_record.h"

namespace outrigger::chain {

class RequestContext final : public LimitWaiter {
 public:
  RequestContext(Engine& engine, outrigger_request handle, FrameBuffer frame, const wire::Request* request,
                 ResponseSink* sink, uint64_t stream_id);
  // A request given in process (no frame): the views point into `input`.
  RequestContext(Engine& engine, outrigger_request handle, std::unique_ptr<CallInput> input, ResponseSink* sink,
                 uint64_t stream_id);
  ~RequestContext();

  // Resolves the route, builds the views, arms the deadline and runs the chain.
  void begin();
  // Ends now with `code` unless already ended; cancels the pending plugin first.
  void cancelWith(Code code, std::string_view message, std::string_view origin);
  void detachSink() { sink_ = nullptr; }
  // Makes this an embeddings request; before begin().
  void setEmbed(std::unique_ptr<EmbedInput> embed) { embed_ = std::move(embed); }
  void setTenant(std::string tenant) { tenant_override_ = std::make_unique<std::string>(std::move(tenant)); }
  void resume();

  outrigger_request handle() const { return handle_; }
  bool ended() const { return ended_; }
  uint64_t deadlineNs() const { return deadline_ns_; }

  // Host API completions; return an outrigger_status for the plugin.
  outrigger_status guardrailDone(plugin::PluginInstance* inst, outrigger_verdict verdict, std::string_view reason);
  outrigger_status cacheDone(plugin::PluginInstance* inst, const outrigger_response_view* hit);
  outrigger_status providerChunk(plugin::PluginInstance* inst, const outrigger_chunk_view& chunk);
  outrigger_status providerDone(plugin::PluginInstance* inst, const outrigger_response_view& response);
  outrigger_status embeddingsDone(plugin::PluginInstance* inst, const outrigger_embeddings_view& embeddings);
  outrigger_status setTimer(uint32_t delay_ms, outrigger_callback fn, void* user_data);

  // uv close callbacks report here; the request frees itself after its last handle closes.
  void handleClosed();

  // LimitWaiter: the route's limit queue tries this request again, or gives up on it.
  bool tryAgain(uint32_t* wake_ms) override;
  void waitExpired() override;

  struct PluginTimer {
    uv_timer_t timer;
    RequestContext* owner;
    outrigger_callback fn;
    void* user_data;
  };

 private:
  enum class Phase { kGuardIn, kCacheLookup, kProvider, kGuardOut, kCacheStore, kEmbed, kDone };
  // One try at admitting the provider phase past its tenant and target limits.
  enum class Admission { kStartedDone, kStartedPending, kLimited, kEnded };
  // Tokens charged to a tokens-per-minute bucket ahead of the answer, settled when it arrives.
  struct TokenCharge {
    resilience::RpmBucket* bucket = nullptr;
    double charged = 0;
  };
  // A hedged second attempt running beside the current one (unary calls only).
  struct HedgeAttempt {
    const Target* target = nullptr;  // nullptr: none running
    resilience::TargetHealth* health = nullptr;
    uint64_t start_ns = 0;
    size_t span = 0;  // its provider span in spans_
    std::string model;
    outrigger_request_view view{};
    std::string content;  // what it sent through provider_chunk so far
    std::vector<ToolCall> tool_calls;
    TokenCharge tokens;
  };
  enum class Waiting { kNothing, kGuardrail, kCache, kProvider };


  bool buildViews();
  void advance();
  // Each returns true when the stage finished synchronously and advance() should go on.
  bool runGuardrailIn();
  bool runCacheLookup();
  bool runProvider();
  // Embeddings: calls the first target's embed hook; true when it finished synchronously.
  bool runEmbed();
  // Starts the provider attempt on route target `index`; true when it finished synchronously.
  bool startAttempt(size_t index);
  void recordDecision(const resilience::Decision& d);
  // The running attempt stops counting against its target's concurrency limit (idempotent).
  void endAttempt();
  // The model the request asks for (the route's, else the caller's), and the one an attempt on
  // `target` calls (the target's own, else the request's).
  const std::string& requestModel() const { return route_->model.empty() ? caller_model_ : route_->model; }
  const std::string& modelFor(const Target& target) const { return target.model.empty() ? requestModel() : target.model; }
  // Answers with the route's fallback_answer, marked degraded; false when there is none to give.
  bool serveFallbackAnswer(const std::string& why);
  void replayChunks();
  std::string fallbackOrigin() const;
  void preparePlanner();
  Admission admit(uint32_t* wait_ms, std::string* why);
  // Refuses now, or waits in the route's queue when the route says so and there is room.
  void onLimited(uint32_t wait_ms, const std::string& why);
  void failLimited(uint32_t wait_ms, const std::string& why, const std::string& message);
  void leaveQueue(std::string_view how);
  double estimatePromptTokens() const;
  // Charges or refunds the difference between `actual` and what was charged ahead.
  static double usedTokens(uint64_t prompt, uint64_t completion, double estimate);
  static void settleTokens(TokenCharge* charge, double actual);
  static void onAttemptTimer(void* user_data, outrigger_status status);
  // Hedging (hedge_phase.cc).
  void armHedge();
  static void onHedgeTimer(void* user_data, outrigger_status status);
  void startHedge(size_t index);
  bool isHedge(plugin::PluginInstance* inst) const { return hedge_.target && hedge_.target->stage.instance.get() == inst; }
  // Cancels the hedge (its provider's cancel hook) and stops it counting against its target.
  void cancelHedge();
  // Cancels the current attempt, which lost to the hedge.
  void cancelCurrentForHedge();
  // The hedge becomes the current attempt.
  void promoteHedge();
  // One of two hedged attempts failed; the other goes on.
  void hedgedFailure(plugin::PluginInstance* inst, const outrigger_response_view& r);
  void closeSpanAt(size_t index, std::string_view outcome);
  // The stage of the current (or first) target.
  const Stage& providerStage() const { return target_ ? target_->stage : route_->provider; }
  const std::vector<Target>& routeTargets() const {
    return route_->targets.empty() ? implicit_targets_ : route_->targets;
  }
  bool runGuardrailOut();
  void runCacheStore();

  // Calls a hook and records its span; flags slow hooks.
  template <class F>
  outrigger_status callHook(const Stage& stage, const char* span_stage, F&& hook);
  outrigger_status callProviderStart(const Stage& stage, const outrigger_request_view* view);
  void closeSpan(std::string_view outcome);
  bool stageFailed(const Stage& stage, outrigger_status rc, const char* what);
  void recordVerdict(const std::string& guardrail, VerdictKind kind, const std::string& reason);
  void applyVerdict(const Stage& stage, const outrigger_guardrail_result& result, outrigger_status rc);
  void copyFinal(const outrigger_response_view& r);
  outrigger_response_view answerView(std::vector<outrigger_tool_call_view>* calls) const;
  void sendChunk(std::string_view delta, const outrigger_chunk_view* chunk);
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
  const Route* route_ = nullptr;

  // Views over frame_ and arena_.
  char arena_buffer_[2048];
  std::pmr::monotonic_buffer_resource arena_;
  outrigger_request_view view_{};          // the request as the route received it
  outrigger_request_view attempt_view_{};  // view_ with the current attempt's target model
  RequestViews views_;  // messages, params and metadata as the request's own storage holds them
  std::string trace_id_;
  std::string model_;
  std::string caller_model_;

  // Resilience: which target the current attempt uses and what comes next.
  std::unique_ptr<resilience::AttemptPlanner> planner_;
  const Target* target_ = nullptr;
  std::vector<Target> implicit_targets_;
  size_t next_target_ = 0;
  uint64_t attempt_start_ns_ = 0;
  resilience::TargetHealth* attempt_health_ = nullptr;  // set while an attempt counts as in flight
  size_t attempt_span_ = 0;     // the current attempt's provider span in spans_
  uint32_t attempt_number_ = 0;  // attempts started on this request (a hedge not included)
  TokenCharge attempt_tokens_;  // the current attempt's estimate on its target's tokens bucket
  TokenCharge tenant_tokens_;   // the request's estimate on its tenant's tokens bucket
  double token_estimate_ = 1;
  HedgeAttempt hedge_;
  LimitQueue* queue_ = nullptr;  // set while waiting in the route's limit queue
  uint64_t queued_ns_ = 0;
  uint32_t queue_wait_ms_ = 0;    // the last time-to-refill seen while waiting
  std::string queue_why_;         // why it waits, for the span and the final error

  Phase phase_ = Phase::kGuardIn;
  size_t stage_index_ = 0;
  Waiting waiting_ = Waiting::kNothing;
  const Stage* waiting_stage_ = nullptr;
  bool in_hook_ = false;
  bool completed_in_hook_ = false;
  bool ended_ = false;
  bool answered_ = false;  // a provider answered OK (its usage is what the upstream used)
  bool reached_provider_ = false;  // a provider hook was called: the upstream may have acted
  bool degraded_ = false;          // the route's fallback_answer stands in for a failure
  std::unique_ptr<std::string> tenant_override_;  // set by the front; else the request's own
  bool paused_ = false;
  bool stopped_by_chunk_ = false;

  // What the provider (or cache) produced.
  bool from_cache_ = false;
  bool started_ = false;
  uint32_t chunk_seq_ = 0;
  std::string content_;
  std::vector<ToolCall> tool_calls_;
  std::string finish_reason_;
  std::string answer_model_;
  Usage usage_;
  double cost_usd_ = 0;
  Code provider_code_ = Code::kOk;
  bool provider_retryable_ = false;
  uint32_t provider_retry_after_ms_ = 0;
  std::string provider_message_;

  // Embeddings mode: the inputs, their views, and the vectors the provider returned.
  std::unique_ptr<EmbedInput> embed_;
  std::vector<outrigger_str> embed_inputs_;
  outrigger_embed_request_view embed_view_{};
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
