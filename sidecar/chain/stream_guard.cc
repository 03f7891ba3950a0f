#include "chain/stream_guard.h"

#include <string>

#include "chain/plugin_text.h"
#include "chain/request_context.h"
#include "common/rate_limited_log.h"
#include "plugin/plugin_struct.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

const outrigger_guardrail_hooks* hooksOf(const Stage& stage) { return stage.instance->guardrail(); }

bool hasChunkHook(const Stage& stage) {
  return OUTRIGGER_HAS_SLOT(hooksOf(stage), outrigger_guardrail_hooks, on_chunk);
}

bool hasStreamEndHook(const Stage& stage) {
  return OUTRIGGER_HAS_SLOT(hooksOf(stage), outrigger_guardrail_hooks, on_stream_end);
}

}  // namespace

bool StreamGuard::needed(const Route& route) {
  for (const Stage& g : route.guardrails) {
    if (hasChunkHook(g) || hasStreamEndHook(g)) return true;
  }
  return false;
}

StreamGuard::StreamGuard(RequestContext& ctx) : ctx_(ctx) {}

void StreamGuard::sizeHolds() {
  if (!holds_.empty()) return;
  holds_.resize(ctx_.route_->guardrails.size());
  skipped_.assign(ctx_.route_->guardrails.size(), 0);
}

const Stage& StreamGuard::guard(size_t index) const { return ctx_.route_->guardrails[index]; }

const Stage* StreamGuard::waitingGuardrail() const {
  return waiting_ == Waiting::kNothing ? nullptr : &guard(waiting_index_);
}

namespace {
constexpr uint64_t kDeltaFixedBytes = 32;
}  // namespace

void StreamGuard::Piece::addDelta(Delta d) {
  if (!deltas.empty() && deltas.back().index == d.index && d.id.empty() && d.type.empty() && d.name.empty()) {
    deltas.back().arguments += d.arguments;
    delta_bytes += d.arguments.size();
    return;
  }
  delta_bytes += kDeltaFixedBytes + d.id.size() + d.type.size() + d.name.size() + d.arguments.size();
  deltas.push_back(std::move(d));
}

void StreamGuard::Piece::setDeltas(std::vector<Delta> all) {
  deltas.clear();
  delta_bytes = 0;
  for (Delta& d : all) addDelta(std::move(d));
}

void StreamGuard::Piece::append(Piece&& more) {
  text += more.text;
  for (Delta& d : more.deltas) addDelta(std::move(d));
}

StreamGuard::Piece StreamGuard::pieceOf(const outrigger_chunk_view& chunk) {
  Piece p;
  p.text.assign(sv(chunk.delta));
  for (size_t i = 0; chunk.tool_calls && i < chunk.tool_call_count; ++i) {
    const auto& d = chunk.tool_calls[i];
    p.addDelta({d.index, std::string(sv(d.id)), std::string(sv(d.type)), std::string(sv(d.name)),
                std::string(sv(d.arguments))});
  }
  return p;
}

outrigger_chunk_view StreamGuard::viewOf(const Piece& piece, std::vector<outrigger_tool_call_delta_view>* deltas) const {
  deltas->clear();
  for (const Delta& d : piece.deltas) {
    deltas->push_back({d.index, {d.id.data(), d.id.size()}, {d.type.data(), d.type.size()},
                       {d.name.data(), d.name.size()}, {d.arguments.data(), d.arguments.size()}});
  }
  outrigger_chunk_view v{};
  v.hdr = OUTRIGGER_HEADER_INIT(outrigger_chunk_view);
  v.delta = {piece.text.data(), piece.text.size()};
  v.tool_calls = deltas->empty() ? nullptr : deltas->data();
  v.tool_call_count = deltas->size();
  return v;
}

// ------------------------------------------------------------------ chunks in

outrigger_status StreamGuard::wholeAnswer(const outrigger_response_view& answer) {
  std::vector<outrigger_tool_call_delta_view> deltas;
  for (size_t i = 0; answer.tool_calls && i < answer.tool_call_count; ++i) {
    const outrigger_tool_call_view& c = answer.tool_calls[i];
    deltas.push_back({uint32_t(i), c.id, c.type, c.name, c.arguments});
  }
  outrigger_chunk_view whole{};
  whole.hdr = OUTRIGGER_HEADER_INIT(outrigger_chunk_view);
  whole.delta = answer.content;
  whole.tool_calls = deltas.data();
  whole.tool_call_count = deltas.size();
  whole.flags = answer.flags;
  ctx_.noteChunkHead(whole);
  return chunk(whole);
}

outrigger_status StreamGuard::chunk(const outrigger_chunk_view& chunk) {
  ++chunks_seen_;
  if (waiting_ != Waiting::kNothing) {
    waiting_chunks_.push_back(pieceOf(chunk));  // in order, after the decision
    waiting_bytes_ += waiting_chunks_.back().bytes();
    accountHeld();
  } else if (held_bytes_ == 0 && !holding_) {
    passThrough(chunk);
  } else {
    feed(0, pieceOf(chunk));
  }
  if (ctx_.ended_) return OUTRIGGER_E_STALE;
  if (waiting_ != Waiting::kNothing) paused_provider_ = true;
  return ctx_.paused_ || waiting_ != Waiting::kNothing ? OUTRIGGER_PAUSE : OUTRIGGER_OK;
}

template <class Call, class Decide>
void StreamGuard::callGuard(size_t index, Waiting what, Call&& call, Decide&& decide) {
  outrigger_guardrail_result result{};
  waiting_ = what;
  waiting_index_ = index;
  in_hook_ = true;
  early_ = {};
  outrigger_status rc = call(&result);
  in_hook_ = false;
  if (rc == OUTRIGGER_PENDING && !early_.set) {
    accountHeld();
    return;  // decided() goes on from here
  }
  waiting_ = Waiting::kNothing;
  if (!early_.set) return decide(rc, result.verdict, sv(result.reason), result.action);
  // It decided inside its own call: that decision, now the hook has returned (whatever the hook
  // returned after it: a deny made through guardrail_decided must not be undone by a CONTINUE).
  warnIfNotPending(index, rc);
  EarlyDecision early = std::move(early_);
  early_ = {};
  outrigger_guardrail_action action = actionOf(early);
  decide(early.decision, early.verdict, early.reason, &action);
}

// Nothing is held: the chunk goes through the guardrails as the provider's own view and is only
// copied when one of them does more than pass it on (the common case costs no copy).
void StreamGuard::passThrough(const outrigger_chunk_view& chunk) {
  const auto& guardrails = ctx_.route_->guardrails;
  for (size_t index = 0; index < guardrails.size() && !ctx_.ended_; ++index) {
    const Stage& g = guardrails[index];
    if (!hasChunkHook(g)) continue;
    outrigger_guardrail_result result{};
    waiting_ = Waiting::kChunk;
    waiting_index_ = index;
    in_hook_ = true;
    early_ = {};
    outrigger_status rc = hooksOf(g)->on_chunk(g.instance->handle(), &ctx_.view_, &chunk, &result);
    in_hook_ = false;
    if (rc == OUTRIGGER_CONTINUE && !early_.set && result.verdict == OUTRIGGER_VERDICT_PASS) {
      waiting_ = Waiting::kNothing;
      continue;
    }
    if (rc == OUTRIGGER_PENDING && !early_.set) {
      waiting_piece_ = pieceOf(chunk);  // the provider's view dies with its call
      accountHeld();
      return;
    }
    waiting_ = Waiting::kNothing;
    if (early_.set) {
      warnIfNotPending(index, rc);
      EarlyDecision early = std::move(early_);
      early_ = {};
      outrigger_guardrail_action action = actionOf(early);
      return apply(index, early.decision, early.verdict, early.reason, &action, pieceOf(chunk));
    }
    return apply(index, rc, result.verdict, sv(result.reason), result.action, pieceOf(chunk));
  }
  if (!ctx_.ended_) ctx_.takeChunk(chunk);
}

void StreamGuard::warnIfNotPending(size_t index, outrigger_status rc) const {
  if (rc == OUTRIGGER_PENDING) return;
  warnContract(index, "decided through guardrail_decided inside the hook, then returned " + std::to_string(rc) +
                          " instead of PENDING; the decision stands");
}

void StreamGuard::warnContract(size_t index, const std::string& what) const {
  static RateLimitedLog log;
  log.write(LogLevel::kWarn, guard(index).origin, what);
}

outrigger_guardrail_action StreamGuard::actionOf(EarlyDecision& early) {
  outrigger_guardrail_action action{};
  action.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
  action.content = {early.content.data(), early.content.size()};
  action.replace_content = early.replace;
  early.call_views.clear();
  for (const Delta& d : early.calls) {
    early.call_views.push_back({{d.id.data(), d.id.size()}, {d.type.data(), d.type.size()}, {d.name.data(), d.name.size()},
                                {d.arguments.data(), d.arguments.size()}});
  }
  action.tool_calls = early.call_views.data();
  action.tool_call_count = early.call_views.size();
  action.replace_tool_calls = early.replace_calls;
  action.restores_caller_values = early.restores_caller_values;
  return action;
}

std::vector<StreamGuard::Delta> StreamGuard::callsOf(const outrigger_guardrail_action& action) {
  std::vector<Delta> out;
  for (size_t i = 0; action.tool_calls && i < action.tool_call_count; ++i) {
    const outrigger_tool_call_view& c = action.tool_calls[i];
    out.push_back({static_cast<uint32_t>(i), std::string(sv(c.id)), std::string(sv(c.type)), std::string(sv(c.name)),
                   std::string(sv(c.arguments))});
  }
  return out;
}

void StreamGuard::feed(size_t index, Piece piece) {
  const auto& guardrails = ctx_.route_->guardrails;
  while (index < guardrails.size() && !hasChunkHook(guardrails[index])) ++index;
  if (ctx_.ended_) return;
  // Nothing to see: a guardrail that held everything and released none of it (guardrail.json
  // withholding an invalid answer for its on_response to re-ask). Passed on, it would tell the
  // next guardrail a stream came and was empty, and that one would judge an answer never sent.
  if (piece.text.empty() && piece.deltas.empty()) return;
  if (index == guardrails.size()) return emit(std::move(piece));
  const Stage& g = guardrails[index];
  waiting_piece_ = std::move(piece);  // the hook's view points here; decided() takes it
  std::vector<outrigger_tool_call_delta_view> deltas;
  outrigger_chunk_view view = viewOf(waiting_piece_, &deltas);
  callGuard(index, Waiting::kChunk,
            [&](outrigger_guardrail_result* result) {
              return hooksOf(g)->on_chunk(g.instance->handle(), &ctx_.view_, &view, result);
            },
            [&](outrigger_status rc, outrigger_verdict verdict, std::string_view reason,
                const outrigger_guardrail_action* action) {
              Piece p = std::move(waiting_piece_);
              waiting_piece_ = {};
              apply(index, rc, verdict, reason, action, std::move(p));
            });
}

void StreamGuard::apply(size_t index, outrigger_status decision, outrigger_verdict verdict, std::string_view plugin_reason,
                        const outrigger_guardrail_action* plugin_action, Piece piece) {
  const Stage& g = guard(index);
  std::string reason = repairedText(plugin_reason);
  sizeHolds();
  if (decision < 0) {
    g.instance->failures.fetch_add(1, std::memory_order_relaxed);
    ctx_.engine_.counters().plugin_errors.fetch_add(1, std::memory_order_relaxed);
    if (g.instance->onError() == config::OnError::kDeny) {
      std::string msg = "guardrail on_chunk failed (plugin status " + std::to_string(decision) + ")";
      ctx_.recordVerdict(g.instance->name(), VerdictKind::kError, msg);
      ctx_.cancelWith(Code::kInternal, msg, g.origin);
      return;
    }
    ++skipped_[index];  // fails open for this chunk, and the record will say so
    decision = OUTRIGGER_CONTINUE;
  }
  if (decision == OUTRIGGER_STOP || verdict == OUTRIGGER_VERDICT_DENY) {
    ctx_.recordVerdict(g.instance->name(), VerdictKind::kDeny, reason);
    ctx_.cancelWith(Code::kPermissionDenied, reason.empty() ? "stream denied by guardrail" : reason, g.origin);
    return;
  }
  if (verdict < OUTRIGGER_VERDICT_PASS || verdict > OUTRIGGER_VERDICT_REWRITE) {
    warnContract(index, "gave verdict " + std::to_string(verdict) + ", not one a hook may give");
    return apply(index, OUTRIGGER_E_INVALID, OUTRIGGER_VERDICT_PASS, reason, nullptr, std::move(piece));
  }
  Piece& holding = holds_[index];
  holding.append(std::move(piece));
  if (decision == OUTRIGGER_HOLD) {
    holding_ = true;
    accountHeld();
    return;
  }
  Piece out = std::move(holding);
  holding = {};
  holding_ = false;
  for (const Piece& p : holds_) holding_ = holding_ || !p.text.empty() || !p.deltas.empty();
  outrigger_guardrail_action action;
  bool has_action = plugin::copyPluginStruct(plugin_action, OUTRIGGER_MIN_SIZE_GUARDRAIL_ACTION, &action);
  // An action whose header was never set cannot be read: releasing the original text instead
  // would hand the caller what a redacting guardrail meant to hide.
  if (plugin_action && !has_action) {
    warnContract(index, "gave an action without its header (struct_size " +
                            std::to_string(plugin_action->hdr.struct_size) + ")");
    return apply(index, OUTRIGGER_E_INVALID, verdict, reason, nullptr, std::move(out));
  }
  if (decision == OUTRIGGER_RELEASE && has_action && (action.replace_content || action.replace_tool_calls)) {
    // A replacement that is not UTF-8 breaks the contract as a wrong decision does.
    if (!actionTextIsUtf8(action)) {
      warnContract(index, "released text or tool-call arguments that are not UTF-8");
      return apply(index, OUTRIGGER_E_INVALID, verdict, reason, nullptr, std::move(out));
    }
    if (action.restores_caller_values) ctx_.answer_withheld_ = true;
    if (action.replace_content) out.text.assign(sv(action.content));
    if (action.replace_tool_calls) out.setDeltas(callsOf(action));
    // A replacement is also how a guardrail that holds text back lets part of it go (the rest
    // comes back in a later release): only its verdict says whether it changed anything.
    if (verdict == OUTRIGGER_VERDICT_REWRITE) {
      ctx_.recordVerdict(g.instance->name(), VerdictKind::kRewrite, reason);
      ctx_.engine_.counters().rewrites.fetch_add(1, std::memory_order_relaxed);
    } else if (verdict == OUTRIGGER_VERDICT_FLAG) {
      ctx_.recordVerdict(g.instance->name(), VerdictKind::kFlag, reason);
    }
  } else if (decision != OUTRIGGER_CONTINUE && decision != OUTRIGGER_RELEASE) {
    // Not a chunk decision (e.g. PAUSE): the plugin broke the contract; its on_error decides.
    warnContract(index, "returned " + std::to_string(decision) + ", not a chunk decision");
    return apply(index, OUTRIGGER_E_INVALID, verdict, reason, nullptr, std::move(out));
  } else if (verdict == OUTRIGGER_VERDICT_FLAG) {
    ctx_.recordVerdict(g.instance->name(), VerdictKind::kFlag, reason);
  }
  accountHeld();
  feed(index + 1, std::move(out));
}

void StreamGuard::emit(Piece piece) {
  if (piece.text.empty() && piece.deltas.empty()) return;
  std::vector<outrigger_tool_call_delta_view> deltas;
  ctx_.takeChunk(viewOf(piece, &deltas));
}

// ------------------------------------------------------------------ decisions later

bool StreamGuard::pendingFor(plugin::PluginInstance* inst) const {
  return waiting_ != Waiting::kNothing && guard(waiting_index_).instance.get() == inst;
}

outrigger_status StreamGuard::decided(plugin::PluginInstance* inst, outrigger_status decision, outrigger_verdict verdict,
                                      std::string_view reason, const outrigger_guardrail_action* action) {
  if (!pendingFor(inst)) return OUTRIGGER_E_INVALID;
  if (in_hook_) {
    // Inside the hook it completes: kept (copied) until the hook returns.
    if (early_.set) return OUTRIGGER_E_INVALID;
    outrigger_guardrail_action copy;
    const bool copied = plugin::copyPluginStruct(action, OUTRIGGER_MIN_SIZE_GUARDRAIL_ACTION, &copy);
    const bool replace = copied && copy.replace_content;
    // An action without its header fails the stage, as when it comes later (apply).
    if (action && !copied) decision = OUTRIGGER_E_INVALID;
    early_ = {true, decision, verdict, std::string(reason), replace, replace ? std::string(sv(copy.content)) : "", false, {}, {}};
    if (copied && copy.replace_tool_calls) {
      early_.replace_calls = true;
      early_.calls = callsOf(copy);
    }
    early_.restores_caller_values = copied && copy.restores_caller_values;
    return OUTRIGGER_OK;
  }
  Waiting what = waiting_;
  size_t index = waiting_index_;
  waiting_ = Waiting::kNothing;
  if (what == Waiting::kChunk) {
    Piece p = std::move(waiting_piece_);
    waiting_piece_ = {};
    apply(index, decision, verdict, reason, action, std::move(p));
  } else {
    streamEndDecided(index, decision, verdict, reason, action);
  }
  // What comes next (waiting chunks, the provider's resume, the stream's end) runs on the loop's
  // next turn, not inside the plugin's call: no hook is re-entered from its own completion.
  if (!pump_scheduled_ && !ctx_.ended_) {
    pump_scheduled_ = ctx_.setTimer(0, &StreamGuard::onPump, this) == OUTRIGGER_OK;
  }
  return OUTRIGGER_OK;
}

void StreamGuard::onPump(void* self, outrigger_status status) {
  auto* guard = static_cast<StreamGuard*>(self);
  guard->pump_scheduled_ = false;
  if (status == OUTRIGGER_OK) guard->pump();
}

void StreamGuard::pump() {
  while (!ctx_.ended_ && waiting_ == Waiting::kNothing) {
    if (waiting_head_ < waiting_chunks_.size()) {
      Piece next = std::move(waiting_chunks_[waiting_head_++]);
      waiting_bytes_ -= next.bytes();
      // Fed from the front without moving the rest each time; emptied, or mostly fed, it shrinks.
      if (waiting_head_ == waiting_chunks_.size()) {
        waiting_chunks_.clear();
        waiting_head_ = 0;
      } else if (waiting_head_ >= 64 && waiting_head_ * 2 >= waiting_chunks_.size()) {
        waiting_chunks_.erase(waiting_chunks_.begin(), waiting_chunks_.begin() + ptrdiff_t(waiting_head_));
        waiting_head_ = 0;
      }
      feed(0, std::move(next));
      continue;
    }
    if (!provider_finished_ || finished_) break;
    if (stream_end_next_ < ctx_.route_->guardrails.size()) {
      callStreamEnd(stream_end_next_++);
      continue;
    }
    finished_ = true;
    recordSkips();
    ctx_.streamGuardFinished();  // the answer goes on to the response steps
    return;
  }
  if (ctx_.ended_ || waiting_ != Waiting::kNothing || !paused_provider_) return;
  paused_provider_ = false;
  if (!ctx_.paused_ && !provider_finished_) ctx_.provider_.resume(ctx_.provider_.stage());
}

// ------------------------------------------------------------------ the end of the stream

bool StreamGuard::providerFinished() {
  provider_finished_ = true;
  if (waiting_ == Waiting::kNothing && waiting_head_ == waiting_chunks_.size()) {
    while (!ctx_.ended_ && waiting_ == Waiting::kNothing && stream_end_next_ < ctx_.route_->guardrails.size()) {
      callStreamEnd(stream_end_next_++);
    }
    if (!ctx_.ended_ && waiting_ == Waiting::kNothing && waiting_head_ == waiting_chunks_.size()) {
      finished_ = true;
      recordSkips();
      return true;
    }
  }
  return false;  // pump() finishes it once the pending decision arrives
}

void StreamGuard::callStreamEnd(size_t index) {
  const Stage& g = guard(index);
  auto decide = [&](outrigger_status rc, outrigger_verdict verdict, std::string_view reason,
                    const outrigger_guardrail_action* action) { streamEndDecided(index, rc, verdict, reason, action); };
  if (!hasStreamEndHook(g)) return decide(OUTRIGGER_CONTINUE, OUTRIGGER_VERDICT_PASS, {}, nullptr);
  callGuard(index, Waiting::kStreamEnd,
            [&](outrigger_guardrail_result* result) {
              return hooksOf(g)->on_stream_end(g.instance->handle(), &ctx_.view_, result);
            },
            decide);
}

void StreamGuard::streamEndDecided(size_t index, outrigger_status decision, outrigger_verdict verdict,
                                   std::string_view reason, const outrigger_guardrail_action* action) {
  if (decision == OUTRIGGER_HOLD) decision = OUTRIGGER_E_INVALID;  // nothing comes after the end to hold for
  if (decision == OUTRIGGER_CONTINUE && !holding_ && verdict == OUTRIGGER_VERDICT_PASS) return;  // nothing to release
  // What it holds is decided like a last chunk: released, replaced or stopped.
  apply(index, decision == OUTRIGGER_CONTINUE ? OUTRIGGER_RELEASE : decision, verdict, reason, action, Piece{});
}

void StreamGuard::recordSkips() {
  const auto& guardrails = ctx_.route_->guardrails;
  for (size_t i = 0; i < guardrails.size(); ++i) {
    const Stage& g = guardrails[i];
    if (!hasChunkHook(g)) continue;
    uint32_t skipped = i < skipped_.size() ? skipped_[i] : 0;
    if (skipped == 0) {
      ctx_.recordVerdict(g.instance->name(), VerdictKind::kPass, "");  // it saw every chunk
      continue;
    }
    ctx_.recordVerdict(g.instance->name(), VerdictKind::kSkipped,
                       "on_chunk failed on " + std::to_string(skipped) + " of " + std::to_string(chunks_seen_) +
                           " chunks (on_error = skip): those went out unchecked");
  }
}

// ------------------------------------------------------------------ bounds and lifecycle

// Text and tool-call deltas are held, and both are bounded.
void StreamGuard::accountHeld() {
  uint64_t total = waiting_piece_.bytes() + waiting_bytes_;
  for (const Piece& p : holds_) total += p.bytes();
  int64_t delta = int64_t(total) - int64_t(held_bytes_);
  held_bytes_ = total;
  if (delta && ctx_.sink_) ctx_.sink_->onHeld(ctx_.stream_id_, delta);
  if (held_bytes_ <= ctx_.route_->max_held_bytes || ctx_.ended_) return;
  ctx_.engine_.counters().hold_overflows.fetch_add(1, std::memory_order_relaxed);
  const std::string why =
      "guardrails held more than max_held_bytes (" + std::to_string(ctx_.route_->max_held_bytes) + ") of the stream";
  // The stream ends for what they hold: their verdicts say so, where a pass would be recorded.
  for (size_t i = 0; i < holds_.size(); ++i) {
    if (holds_[i].bytes()) ctx_.recordVerdict(guard(i).instance->name(), VerdictKind::kDeny, why);
  }
  ctx_.cancelWith(Code::kResourceExhausted, why, "guardrail");
}

void StreamGuard::dropPending() {
  if (waiting_ != Waiting::kNothing) {
    const Stage& g = guard(waiting_index_);
    waiting_ = Waiting::kNothing;
    const auto* hooks = hooksOf(g);
    if (OUTRIGGER_HAS_SLOT(hooks, outrigger_guardrail_hooks, on_cancel)) hooks->on_cancel(g.instance->handle(), ctx_.handle_);
  }
  for (Piece& p : holds_) p = {};
  holding_ = false;
  waiting_chunks_.clear();
  waiting_head_ = 0;
  waiting_bytes_ = 0;
  waiting_piece_ = {};
}

void StreamGuard::requestEnded() {
  dropPending();
  if (held_bytes_ && ctx_.sink_) ctx_.sink_->onHeld(ctx_.stream_id_, -int64_t(held_bytes_));
  held_bytes_ = 0;
}

void StreamGuard::newAttempt() {
  dropPending();
  // Guardrails that saw the last attempt's chunks forget them (none reached the client: a stream
  // is only retried, fallen back or re-asked before its first chunk went out).
  if (chunks_seen_ > 0) {
    for (const Stage& g : ctx_.route_->guardrails) {
      if (OUTRIGGER_HAS_SLOT(hooksOf(g), outrigger_guardrail_hooks, on_stream_restart)) {
        hooksOf(g)->on_stream_restart(g.instance->handle(), &ctx_.view_);
      }
    }
  }
  chunks_seen_ = 0;
  paused_provider_ = false;
  // A re-ask's new answer goes through every on_stream_end again.
  provider_finished_ = false;
  finished_ = false;
  stream_end_next_ = 0;
  accountHeld();
}

}  // namespace outrigger::chain
