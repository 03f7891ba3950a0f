// guardrail.content: prompt-injection and jailbreak scoring on the request (the maintained rule
// set, hidden and encoded text, an optional LLM judge through the host), banned topics on either
// side, and the answer's refusal, emptiness and length. Streams are checked as they go, holding
// back only what a check still needs. The checks live in injection_rules, phrase_lists and
// answer_checks; this file is the plugin glue.
#include <outrigger/plugin.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "answer_checks.h"
#include "content_settings.h"
#include "judge.h"

namespace {

using namespace outrigger::plugin;
using namespace outrigger::content;

struct RequestState {
  std::unique_ptr<AnswerStream> stream;
  size_t host_held = 0;  // bytes of the current attempt the host holds for this guardrail
};

outrigger_verdict verdictOf(Action a) {
  return a == Action::kDeny ? OUTRIGGER_VERDICT_DENY : a == Action::kFlag ? OUTRIGGER_VERDICT_FLAG : OUTRIGGER_VERDICT_PASS;
}

class ContentGuardrail final : public Guardrail {
 public:
  static constexpr const char* kName = "content";
  static constexpr const char* kDescription =
      "Prompt-injection and jailbreak detection (rules, hidden text, LLM judge), banned topics, refusal, empty and long answers";
  static constexpr const char* kConfigSchema = outrigger::content::kConfigSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  ContentGuardrail(Host host, std::string_view name, std::string_view config)
      : Guardrail(host, name),
        settings_(parseSettings(config)),
        judge_cache_(settings_->judge.cache_entries, std::chrono::seconds(settings_->judge.cache_ttl_s)) {}

  outrigger_status onRequest(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    const ContentSettings& s = *settings_;
    AnswerVerdict topics = requestTopics(req);
    if (topics.action == Action::kDeny) return finish(topics.action, topics.reason, result);
    if (!s.scanner) return finish(topics.action, topics.reason, result);

    Assessment worst;
    size_t worst_index = 0;
    for (size_t i = 0; i < req.message_count; ++i) {
      if (!s.scansRole(view(req.messages[i].role))) continue;
      Assessment a = s.scanner->assess(view(req.messages[i].content));
      if (!a.error.empty()) return failClosed(a.error, result);
      if (a.score > worst.score) {
        worst = std::move(a);
        worst_index = i;
      }
    }
    // Only a finding is worth a reason: most prompts score 0 and skip the formatting.
    auto where = [&] { return "message " + std::to_string(worst_index) + ": injection score " + worst.summary(); };
    if (worst.score >= s.deny_score) {
      injection_denied_.fetch_add(1, std::memory_order_relaxed);
      return finish(Action::kDeny, "prompt injection or jailbreak (" + where() + ")", result);
    }
    const bool uncertain = worst.score >= s.flag_score;
    if (!s.judge.route.empty() && (s.judge.always || uncertain)) return askJudge(req, where(), uncertain, topics, result);
    if (uncertain) {
      injection_flagged_.fetch_add(1, std::memory_order_relaxed);
      topics.raise(Action::kFlag, "possible prompt injection (" + where() + ")");
    }
    return finish(topics.action, topics.reason, result);
  }

  outrigger_status onResponse(const outrigger_request_view& req, const outrigger_response_view& answer,
                              outrigger_guardrail_result& result) override {
    auto* state = static_cast<RequestState*>(host().requestState(req.handle));
    if (state && state->stream) return OUTRIGGER_CONTINUE;  // decided chunk by chunk
    const bool refused = answerFlags(answer) & OUTRIGGER_ANSWER_REFUSAL;
    AnswerVerdict v = checkWholeAnswer(*settings_, view(answer.content), refused, answer.tool_call_count > 0);
    countAnswer(v);
    return finish(v.action, v.reason, result);
  }

  outrigger_status onChunk(const outrigger_request_view& req, const outrigger_chunk_view& chunk,
                           outrigger_guardrail_result& result) override {
    RequestState* state = streamState(req);
    if (!state) return failClosed("no per-request state", result);
    const bool refused = chunkFlags(chunk) & OUTRIGGER_ANSWER_REFUSAL;
    state->host_held += chunk.delta.size;
    AnswerStream::Step step = state->stream->feed(view(chunk.delta), refused, chunk.tool_call_count > 0);
    return decideChunk(state, step, /*at_end=*/false, result);
  }

  outrigger_status onStreamEnd(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    auto* state = static_cast<RequestState*>(host().requestState(req.handle));
    if (!state || !state->stream) return OUTRIGGER_CONTINUE;  // no chunk came: on_response sees the answer
    return decideChunk(state, state->stream->finish(), /*at_end=*/true, result);
  }

  // A retried, fallen-back or re-asked answer starts over; it may come whole (a fallback target,
  // a hedge), and then on_response checks it: the stream state goes with the attempt it was for.
  void onStreamRestart(const outrigger_request_view& req) override {
    auto* state = static_cast<RequestState*>(host().requestState(req.handle));
    if (!state) return;
    state->stream.reset();
    state->host_held = 0;
  }

  void reportMetrics(const MetricsWriter& out) override {
    auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
      out.counter(name, help, {}, static_cast<double>(v.load(std::memory_order_relaxed)));
    };
    counter("content_injection_denied_total", "Requests denied as prompt injection or jailbreak", injection_denied_);
    counter("content_injection_flagged_total", "Requests flagged as possible prompt injection", injection_flagged_);
    counter("content_judge_calls_total", "Prompts sent to the judge route", judge_calls_);
    counter("content_judge_cache_hits_total", "Judge verdicts served from the verdict cache", judge_cache_hits_);
    counter("content_judge_unsafe_total", "Prompts the judge called unsafe", judge_unsafe_);
    counter("content_judge_errors_total", "Judge calls that failed or answered neither SAFE nor UNSAFE", judge_errors_);
    counter("content_answers_denied_total", "Answers denied (refusal, empty, length, banned topic)", answers_denied_);
    counter("content_answers_flagged_total", "Answers flagged (refusal, empty, length, banned topic)", answers_flagged_);
    counter("content_fail_closed_total", "Checks that failed and denied", fail_closed_);
  }

 private:
  static uint32_t answerFlags(const outrigger_response_view& a) {
    return a.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_response_view, flags) ? a.flags : 0;
  }
  static uint32_t chunkFlags(const outrigger_chunk_view& c) {
    return c.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_chunk_view, flags) ? c.flags : 0;
  }

  AnswerVerdict requestTopics(const outrigger_request_view& req) {
    AnswerVerdict v;
    const ContentSettings& s = *settings_;
    if (s.request_phrases.empty()) return v;
    for (size_t i = 0; i < req.message_count; ++i) {
      if (!s.scansRole(view(req.messages[i].role))) continue;
      std::string error;
      // What a reader sees, as the injection rules read it: "nap<U+200B>alm" is "napalm".
      const TextSignals seen = readSignals(view(req.messages[i].content));
      for (int hit : s.request_phrases.match(seen.visible, true, true, &error)) {
        const BannedTopic& topic = s.request_topics[static_cast<size_t>(hit)];
        v.raise(topic.action, "message " + std::to_string(i) + " mentions banned topic '" + topic.name + "'");
      }
      if (!error.empty()) v.raise(Action::kDeny, "content check failed (" + error + ")");
    }
    return v;
  }

  // The prompt as the judge reads it: the scored messages, labelled by role, cut to max_chars
  // (its head and its tail, where an injection usually sits).
  std::string judgeText(const outrigger_request_view& req) const {
    std::string text;
    for (size_t i = 0; i < req.message_count; ++i) {
      if (!settings_->scansRole(view(req.messages[i].role))) continue;
      text += "[" + std::string(view(req.messages[i].role)) + "]\n" + std::string(view(req.messages[i].content)) + "\n";
    }
    const size_t max = settings_->judge.max_chars;
    if (text.size() <= max) return text;
    // Cut between characters: a judge message that is not UTF-8 is refused by the host, and the
    // judge would never run on a long accented or CJK prompt.
    auto continuation = [&](size_t at) { return at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80; };
    size_t head = max / 2, tail = text.size() - max / 2;
    while (head > 0 && continuation(head)) --head;
    while (continuation(tail)) ++tail;
    return text.substr(0, head) + "\n[...]\n" + text.substr(tail);
  }

  outrigger_status askJudge(const outrigger_request_view& req, const std::string& where, bool uncertain,
                            AnswerVerdict topics, outrigger_guardrail_result& result) {
    std::string text = judgeText(req);
    if (auto cached = judge_cache_.find(text, JudgeCache::Clock::now())) {
      judge_cache_hits_.fetch_add(1, std::memory_order_relaxed);
      AnswerVerdict v = judged(*cached, where, uncertain, topics, " (cached)");
      return finish(v.action, v.reason, result);
    }
    const std::string rubric = settings_->judge.rubric.empty() ? kDefaultRubric : settings_->judge.rubric;
    outrigger_message_view messages[2] = {{str("system"), str(rubric), {}, {}, nullptr, 0},
                                          {str("user"), str(text), {}, {}, nullptr, 0}};
    outrigger_model_call call{};
    call.hdr = OUTRIGGER_HEADER_INIT(outrigger_model_call);
    call.route = str(settings_->judge.route);
    call.messages = messages;
    call.message_count = 2;
    call.timeout_ms = settings_->judge.timeout_ms;
    judge_calls_.fetch_add(1, std::memory_order_relaxed);
    const outrigger_request h = req.handle;
    outrigger_status st = host().complete(h, call, [this, h, text, where, uncertain, topics](const outrigger_response_view& a) {
      std::optional<JudgeVerdict> verdict;
      if (a.code == OUTRIGGER_CODE_OK) verdict = parseJudgeAnswer(view(a.content));
      AnswerVerdict v;
      if (verdict) {
        judge_cache_.put(text, *verdict, JudgeCache::Clock::now());
        v = judged(*verdict, where, uncertain, topics, "");
      } else {
        v = judgeFailed(a.code == OUTRIGGER_CODE_OK ? "answered neither SAFE nor UNSAFE" : "the judge call failed: " +
                                                         std::string(view(a.message)), topics);
      }
      host().guardrailDone(h, verdictOf(v.action), v.reason);
    });
    if (st == OUTRIGGER_OK) return OUTRIGGER_PENDING;
    AnswerVerdict v = judgeFailed("the judge route could not be called (is it in the route's calls?)", topics);
    return finish(v.action, v.reason, result);
  }

  AnswerVerdict judged(JudgeVerdict verdict, const std::string& where, bool uncertain, AnswerVerdict topics,
                       const char* note) {
    if (verdict == JudgeVerdict::kUnsafe) {
      judge_unsafe_.fetch_add(1, std::memory_order_relaxed);
      injection_denied_.fetch_add(1, std::memory_order_relaxed);
      topics.raise(Action::kDeny, std::string("the judge called it prompt injection or jailbreak") + note + " (" + where + ")");
    } else if (uncertain) {
      if (topics.reason.empty()) topics.reason = std::string("the judge called it safe") + note + " (" + where + ")";
    }
    return topics;
  }

  AnswerVerdict judgeFailed(const std::string& why, AnswerVerdict topics) {
    judge_errors_.fetch_add(1, std::memory_order_relaxed);
    if (settings_->judge.on_error == Action::kDeny) fail_closed_.fetch_add(1, std::memory_order_relaxed);
    host().log(OUTRIGGER_LOG_WARN, "content judge: " + why);
    topics.raise(settings_->judge.on_error, "content judge failed: " + why);
    return topics;
  }

  RequestState* streamState(const outrigger_request_view& req) {
    auto* state = static_cast<RequestState*>(host().requestState(req.handle));
    if (!state) {
      auto fresh = std::make_unique<RequestState>();
      state = fresh.get();
      if (host().setRequestState(req.handle, std::move(fresh)) != OUTRIGGER_OK) return nullptr;
    }
    if (!state->stream) state->stream = std::make_unique<AnswerStream>(*settings_);
    return state;
  }

  // What leaves after a chunk (or the end): nothing yet (HOLD), everything held (CONTINUE), or
  // the releasable part of it (RELEASE), the rest kept for a later release.
  outrigger_status decideChunk(RequestState* state, const AnswerStream::Step& step, bool at_end,
                               outrigger_guardrail_result& result) {
    countAnswer(step.verdict);
    if (step.verdict.action == Action::kDeny) return finish(Action::kDeny, step.verdict.reason, result);
    if (step.verdict.action == Action::kFlag) {
      reason_ = step.verdict.reason;
      result.verdict = OUTRIGGER_VERDICT_FLAG;
      result.reason = str(reason_);
    }
    AnswerStream& stream = *state->stream;
    const size_t pending = stream.pending().size();
    if (step.release == 0 && pending > 0 && !at_end) return OUTRIGGER_HOLD;
    if (step.release == pending && pending == state->host_held) {  // exactly what the host holds
      stream.released(pending);
      state->host_held = 0;
      return OUTRIGGER_CONTINUE;
    }
    released_.assign(stream.pending(), 0, step.release);
    stream.released(step.release);
    state->host_held = 0;
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.content = str(released_);
    action_.replace_content = 1;
    result.action = &action_;
    return OUTRIGGER_RELEASE;
  }

  void countAnswer(const AnswerVerdict& v) {
    if (v.action == Action::kDeny) answers_denied_.fetch_add(1, std::memory_order_relaxed);
    if (v.action == Action::kFlag) answers_flagged_.fetch_add(1, std::memory_order_relaxed);
  }

  outrigger_status failClosed(const std::string& why, outrigger_guardrail_result& result) {
    fail_closed_.fetch_add(1, std::memory_order_relaxed);
    host().log(OUTRIGGER_LOG_WARN, "content check failed: " + why);
    return finish(Action::kDeny, "content check failed (" + why + "): denied", result);
  }

  outrigger_status finish(Action action, const std::string& reason, outrigger_guardrail_result& result) {
    reason_ = reason;
    result.verdict = verdictOf(action);
    result.reason = str(reason_);
    return action == Action::kDeny ? OUTRIGGER_STOP : OUTRIGGER_CONTINUE;
  }

  std::unique_ptr<ContentSettings> settings_;
  JudgeCache judge_cache_;
  std::string reason_;    // backs result.reason until the host copies it
  std::string released_;  // backs action_.content likewise
  outrigger_guardrail_action action_{};
  std::atomic<uint64_t> injection_denied_{0}, injection_flagged_{0}, judge_calls_{0}, judge_cache_hits_{0},
      judge_unsafe_{0}, judge_errors_{0}, answers_denied_{0}, answers_flagged_{0}, fail_closed_{0};
};

}  // namespace

OUTRIGGER_PLUGIN("guardrail_content", "1.0.0", outrigger::plugin::typeOf<ContentGuardrail>())
