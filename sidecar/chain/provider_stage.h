// The provider step of one request: where and when each attempt goes (the AttemptPlanner's
// decisions), target limits, the route's limit queue, retries after a backoff,
// hedging, embeddings attempts, and the provider's completions. Everything about attempts lives
// here; what they produce (content, usage, the outcome) is the request's (RequestContext).
//
// Files: provider_stage.cc (attempts and completions), provider_admission.cc (limits, queue,
// planner), provider_hedge.cc (hedging), provider_embed.cc (embeddings).
// Thread: the request's loop thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <outrigger/plugin.h>

#include "api/response_sink.h"
#include "chain/chain.h"
#include "chain/limit_queue.h"
#include "chain/queue_seat.h"
#include "resilience/attempt_planner.h"
#include "resilience/target_health.h"

namespace outrigger::plugin { class PluginInstance; }

namespace outrigger::chain {

class RequestContext;

// provider_chunk refuses a tool call delta whose index is this or more (OUTRIGGER_E_INVALID).
inline constexpr uint32_t kMaxToolCallIndex = 1024;

class ProviderStage final : public LimitWaiter {
 public:
  explicit ProviderStage(RequestContext& ctx) : ctx_(ctx), seat_(ctx, this) {}

  // True when the request made more than one upstream attempt, or found every breaker open.
  bool retriesSpent() const { return upstream_calls_ > 1 || breakers_open_; }

  // Runs the provider step: admits, plans and starts the first attempt. True when the step
  // finished synchronously and the pipeline goes on.
  bool run();

  // Host API completions from a provider instance.
  outrigger_status chunk(plugin::PluginInstance* inst, const outrigger_chunk_view& chunk);
  outrigger_status done(plugin::PluginInstance* inst, const outrigger_response_view& response);
  outrigger_status embeddingsDone(plugin::PluginInstance* inst, const outrigger_embeddings_view& embeddings);

  // The guardrails decided on the end of a streamed answer after the provider's done: the answer
  // goes on to the response steps.
  void finishAfterStreamGuard();
  // The request is ending while an attempt is pending: its span closes, its provider cancels.
  void cancelPending(const Stage& stage);
  // The sink drained: a paused provider may go on.
  void resume(const Stage& stage);
  // The request ended (`current_running`: its current attempt was cut short; `why`: its end's
  // message): leaves the queue, cancels a hedge, settles limiters and what was charged ahead.
  void onRequestEnd(bool current_running, std::string_view why);

  // The stage of the current (or first) target.
  const Stage& stage() const;
  bool hedging() const { return hedge_.target != nullptr; }

  // LimitWaiter: the route's limit queue tries this request again, or gives up on it.
  bool tryAgain(uint32_t* wake_ms) override;
  void waitExpired() override;

  // The conversation grew (a re-ask): the targets' token charges are counted again.
  void recountTokenNeeds();

 private:
  // One try at admitting the attempt past its targets' limits.
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
    size_t span = 0;  // its provider span in the request's spans
    std::string model;
    outrigger_request_view view{};
    std::string content;  // what it sent through provider_chunk so far
    std::vector<ToolCall> tool_calls;
    TokenCharge tokens;
    bool text_refused = false;  // it sent a chunk that is not UTF-8: its answer fails
    uint64_t answer_bytes = 0;  // what its chunks carried, against max_answer_bytes
  };

  // provider_stage.cc
  // Starts the attempt on route target `index`; true when it finished synchronously.
  bool startAttempt(size_t index);
  outrigger_status callStart(const Stage& stage, const outrigger_request_view* view);
  void noteUpstreamIdentity(resilience::TargetHealth& health, const outrigger_response_view& response);
  void succeeded(const outrigger_response_view& r);
  void settleAnswered(const outrigger_response_view& r);
  // Keeps a streamed answer's usage, cost, finish reason and model while guardrails decide.
  void keepFinal(const outrigger_response_view& r);
  // True when another attempt starts after a backoff; otherwise the step is over.
  bool failed(const outrigger_response_view& r);
  // `response` with its text taken out, as a failure (see provider_stage.cc); *message holds the
  // failure's message.
  static outrigger_response_view withoutText(const plugin::PluginInstance& inst, const outrigger_response_view& response,
                                             std::string* message);
  // The running attempt stops counting against its target's concurrency limit (idempotent).
  void endAttempt();
  static void onAttemptTimer(void* user_data, outrigger_status status);
  bool isAttempt(plugin::PluginInstance* inst) const;
  // The route's records go to exporters: worth describing its attempts' spans.
  bool traced() const;
  const std::vector<Target>& routeTargets() const;
  // provider_admission.cc
  void preparePlanner();
  Admission admit(uint32_t* wait_ms, std::string* why);
  // Refuses now, or waits in the route's queue when the route says so and there is room.
  void onLimited(uint32_t wait_ms, const std::string& why);
  void noteRateLimit(const outrigger_response_view& failure);
  void failLimited(uint32_t wait_ms, const std::string& why, const std::string& message);
  // The prompt's tokens as `target`'s model counts them (chain/prompt_tokens.h).
  double promptTokensFor(const Target& target);
  void recordDecision(const resilience::Decision& d);
  // Charges or refunds the difference between `actual` and what was charged ahead.
  static double usedTokens(uint64_t prompt, uint64_t completion, double estimate);
  static void settleTokens(TokenCharge* charge, double actual);
  // A failed attempt's tokens bucket settled to the usage its upstream reported, and that usage
  // and cost kept as the request's.
  void setAsideFailedUsage(TokenCharge* charge, const outrigger_response_view& response);
  // Answers with the route's fallback_answer, marked degraded; false when there is none to give.
  bool serveFallbackAnswer(const std::string& why);
  // provider_embed.cc
  // Why `stage` cannot take this embeddings request (no embed hook; token ids to a provider
  // that embeds text only), and the code the request ends with when no target can; empty: it can.
  std::string embedRefusal(const Stage& stage, Code* code) const;
  // The current target cannot embed this request: the next target the planner gives is tried at
  // once (a target that cannot is no failure of its health), or the request ends with `code`.
  bool passOver(Code code, const std::string& why);
  // What passOver and startFailed share: see provider_stage.cc.
  resilience::Decision passToNext(outrigger_code code);
  // The provider's start (or embed) returned `rc` < 0: the next target the planner gives, or the
  // request's end. True when the request completed meanwhile, as for startAttempt.
  bool startFailed(const Stage& stage, outrigger_status rc);
  outrigger_status callEmbed(const Stage& stage);
  // provider_cost.cc
  // The attempt's answer as the rest of the request sees it: when the provider reported usage
  // but no cost, priced from the chain's price table; counted on the worker's usage meter and
  // described on the attempt's span.
  outrigger_response_view priced(plugin::PluginInstance* inst, const outrigger_response_view& reported);
  // The USD of one attempt's `usage` on `inst`, by the model that answered (else the one asked
  // for); the provider's own figure when it gave one. Sets `*how` to provider | table | unpriced
  // | none (no usage) and `*entry` to the price entry used.
  double attemptCost(plugin::PluginInstance* inst, std::string_view answered, std::string_view asked,
                     const Usage& usage, double reported_usd, std::string_view* how, std::string* entry);

  // provider_hedge.cc
  void armHedge();
  static void onHedgeTimer(void* user_data, outrigger_status status);
  void startHedge(size_t index);
  bool isHedge(plugin::PluginInstance* inst) const {
    return hedge_.target && hedge_.target->stage.instance.get() == inst;
  }
  // Cancels the hedge (its provider's cancel hook) and stops it counting against its target.
  void cancelHedge();
  // Cancels the current attempt, which lost to the hedge.
  void cancelCurrentForHedge();
  void releaseHedgeAnswer();
  // The hedge becomes the current attempt.
  void promoteHedge();
  // One of two hedged attempts failed; the other goes on.
  void hedgedFailure(plugin::PluginInstance* inst, const outrigger_response_view& r);

  RequestContext& ctx_;
  std::unique_ptr<resilience::AttemptPlanner> planner_;
  const Target* target_ = nullptr;
  std::vector<Target> implicit_targets_;
  size_t next_target_ = 0;
  uint64_t attempt_start_ns_ = 0;
  bool text_refused_ = false;  // the current attempt sent a chunk that is not UTF-8: its answer fails
  uint64_t answer_bytes_ = 0;  // what the current attempt's chunks carried, against max_answer_bytes
  resilience::TargetHealth* attempt_health_ = nullptr;  // set while an attempt counts as in flight
  size_t attempt_span_ = 0;      // the current attempt's provider span in the request's spans
  uint32_t attempt_number_ = 0;  // attempts started on this request (a hedge not included)
  uint32_t upstream_calls_ = 0;  // provider start hooks called, hedges included
  bool breakers_open_ = false;   // admission found every target's breaker open
  // Attempts that failed rate limited (RESOURCE_EXHAUSTED) and otherwise, and the soonest
  // retry-after among the rate-limited ones: when every attempt was rate limited the caller
  // hears the soonest, not the last.
  uint32_t rate_limited_ = 0, other_failures_ = 0, soonest_rate_limit_ms_ = 0;
  outrigger_request_view attempt_view_{};  // the request with the current attempt's target model
  TokenCharge attempt_tokens_;   // the current attempt's estimate on its target's tokens bucket
  HedgeAttempt hedge_;
  QueueSeat seat_;  // the route's limit queue, while every target is at its limits
  // A streamed answer's final fields, kept while the guardrails decide on its end.
  struct FinalAnswer {
    outrigger_response_view view{};
    std::string finish_reason, model;
  };
  FinalAnswer final_;
  // An answer the provider finished that waits on the stream guardrails (kept from done() until
  // succeeded() settles it): a guardrail that stops it, or a cancel or deadline while one
  // decides, ends the request, and the end settles this attempt with the usage it cost.
  bool answer_with_guardrails_ = false;
  // Embeddings: the inputs as views, and the view the embed hook reads.
  std::vector<outrigger_str> embed_inputs_;
  outrigger_embed_request_view embed_view_{};
};

}  // namespace outrigger::chain
