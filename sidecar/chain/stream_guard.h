// The guardrails' on_chunk filter chain over a provider's stream (ABI 1.2 hold-back).
//
// A chunk passes the route's guardrails in order; each may let it (and whatever it holds) go on,
// hold it back, release what it holds (or a replacement), stop the stream, or decide later
// (PENDING: the provider is paused, chunks that still arrive wait, in order). What leaves the last
// guardrail is the answer: appended to the request's content and sent to a streaming client.
// When the provider has answered, each guardrail's on_stream_end decides on what it still holds;
// only then does the answer go on to the response steps.
//
// Bounds: the bytes held by every guardrail plus those waiting behind a pending decision stay
// under the route's max_held_bytes (over it: RESOURCE_EXHAUSTED), and count toward the
// connection's write-queue watermark (ResponseSink::onHeld), which stops reading new requests. A guardrail whose on_chunk fails
// with on_error = skip lets that chunk through, and the record says so (verdict "skipped", with
// how many chunks it missed); with on_error = deny the stream ends.
//
// Thread: the request's loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <outrigger/plugin.h>

#include "chain/chain.h"

namespace outrigger::chain {

class RequestContext;

class StreamGuard {
 public:
  // `ctx` has resolved its route.
  explicit StreamGuard(RequestContext& ctx);

  // True when `route` has a guardrail that sees chunks (on_chunk or on_stream_end).
  static bool needed(const Route& route);

  // A chunk of the current attempt. Returns provider_chunk's status: OK, PAUSE (a decision is
  // pending, or the client is slow) or E_STALE (the request ended).
  outrigger_status chunk(const outrigger_chunk_view& chunk);
  // An answer that came whole (a provider's, a cache hit) to a streaming request: it goes through
  // as one chunk, so the guardrails see all a streaming client gets.
  outrigger_status wholeAnswer(const outrigger_response_view& answer);
  // The provider answered OK after streaming through the guardrails (or a cache hit went through
  // them). True when every on_stream_end decided at once and the answer may go on; false when one
  // decides later (RequestContext::streamGuardFinished runs then).
  bool providerFinished();
  // guardrail_decided for a pending on_chunk or on_stream_end of `inst`.
  outrigger_status decided(plugin::PluginInstance* inst, outrigger_status decision, outrigger_verdict verdict,
                           std::string_view reason, const outrigger_guardrail_action* action);
  bool pendingFor(plugin::PluginInstance* inst) const;
  // The guardrail whose on_chunk or on_stream_end decision is pending, or null: what a deadline
  // reached meanwhile is blamed on (the provider is only paused behind it).
  const Stage* waitingGuardrail() const;
  // A decision is pending: the provider stays paused until it comes.
  bool holdsProvider() const { return paused_provider_; }
  // The request ended: a pending guardrail's on_cancel runs; held bytes leave the watermark.
  void requestEnded();
  // A new attempt starts: what the last one left held (or pending) is dropped.
  void newAttempt();
  // Chunks of the current attempt that went through the guardrails.
  uint32_t chunksSeen() const { return chunks_seen_; }

 private:
  struct Delta {
    uint32_t index;
    std::string id, type, name, arguments;
  };
  // Text and tool-call deltas, with what they hold counted as they are added: a chunk counts
  // what is held in constant time, not by walking every held delta again.
  struct Piece {
    std::string text;
    std::vector<Delta> deltas;
    uint64_t delta_bytes = 0;  // the deltas' strings, and a fixed part each (so empty ones count)
    // Appends `more`; a delta continuing the last one's call (same index, no id, type or name)
    // joins it, so a call streamed in thousands of deltas is held as one.
    void append(Piece&& more);
    void addDelta(Delta d);
    void setDeltas(std::vector<Delta> all);
    uint64_t bytes() const { return text.size() + delta_bytes; }
  };
  enum class Waiting : uint8_t { kNothing, kChunk, kStreamEnd };
  // A decision that arrived inside the hook it completes; applied when the hook returns.
  struct EarlyDecision {
    bool set = false;
    outrigger_status decision = OUTRIGGER_CONTINUE;
    outrigger_verdict verdict = OUTRIGGER_VERDICT_PASS;
    std::string reason;
    bool replace = false;
    std::string content;
    bool replace_calls = false;
    std::vector<Delta> calls;  // whole calls, index = position
    std::vector<outrigger_tool_call_view> call_views;  // what actionOf points them to
    bool restores_caller_values = false;
  };

  // Runs `piece` through guardrails from `index` on; the last one's output is emitted.
  void feed(size_t index, Piece piece);
  void passThrough(const outrigger_chunk_view& chunk);
  // The action of an early decision; points into `early`, which must outlive it.
  static outrigger_guardrail_action actionOf(EarlyDecision& early);
  // A hook that decided inside its call must then return PENDING; anything else is logged (the
  // decision stands).
  void warnIfNotPending(size_t index, outrigger_status rc) const;
  // A broken rule of the chunk contract, logged (rate-limited) under the guardrail's name.
  void warnContract(size_t index, const std::string& what) const;
  // A RELEASE's replacement tool calls as the deltas that go on: each whole call one delta.
  static std::vector<Delta> callsOf(const outrigger_guardrail_action& action);
  void sizeHolds();  // holds_ and skipped_ get one entry per guardrail on first use
  // Applies guardrail `index`'s decision on `piece`, which reached it: hold it with what it
  // holds, or let both (or their replacement) go on to the next guardrail.
  void apply(size_t index, outrigger_status decision, outrigger_verdict verdict, std::string_view reason,
             const outrigger_guardrail_action* action, Piece piece);
  void streamEndDecided(size_t index, outrigger_status decision, outrigger_verdict verdict, std::string_view reason,
                        const outrigger_guardrail_action* action);
  // Calls hook `call` of guardrail `index` (waiting_ set), and applies its decision through
  // `decide` unless it is pending.
  template <class Call, class Decide>
  void callGuard(size_t index, Waiting what, Call&& call, Decide&& decide);
  // Runs what waits: chunks that arrived during a decision, then the on_stream_end calls.
  void pump();
  static void onPump(void* self, outrigger_status status);
  void callStreamEnd(size_t index);
  void emit(Piece piece);
  void accountHeld();  // bytes held changed: the bound, and the connection's watermark
  void recordSkips();
  void dropPending();
  outrigger_chunk_view viewOf(const Piece& piece, std::vector<outrigger_tool_call_delta_view>* deltas) const;
  static Piece pieceOf(const outrigger_chunk_view& chunk);
  const Stage& guard(size_t index) const;

  RequestContext& ctx_;
  std::vector<Piece> holds_;        // per guardrail, in route order
  std::vector<Piece> waiting_chunks_;  // arrived while a decision was pending (a deque allocates up front)
  size_t waiting_head_ = 0;            // the next of them to feed
  uint64_t waiting_bytes_ = 0;         // what waiting_chunks_ from waiting_head_ hold
  uint64_t held_bytes_ = 0;
  bool holding_ = false;            // some guardrail holds text or tool-call deltas
  Waiting waiting_ = Waiting::kNothing;
  size_t waiting_index_ = 0;
  Piece waiting_piece_;             // what the pending on_chunk decides on
  bool in_hook_ = false;            // a guardrail hook is running (a decision may come inside it)
  EarlyDecision early_;
  bool paused_provider_ = false;    // provider_chunk answered PAUSE for a pending decision
  bool pump_scheduled_ = false;
  bool provider_finished_ = false;
  bool finished_ = false;
  size_t stream_end_next_ = 0;      // the next guardrail whose on_stream_end runs
  uint32_t chunks_seen_ = 0;
  std::vector<uint32_t> skipped_;   // per guardrail: chunks its failing on_chunk let through
};

}  // namespace outrigger::chain
