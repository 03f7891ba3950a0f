// guardrail.json: structured output. The answer's text must be JSON matching the request's
// response_format (or the configured schema), and its tool calls must name declared tools with
// arguments valid for their parameters. A failing answer is re-asked with a repair prompt that
// quotes the errors, up to max_reasks, then denied with a typed code. The checks live in
// answer_check.h and schema_check.h; this file is the plugin glue: hooks, per-request state,
// stream hold-back, re-asks and metrics.
#include <outrigger/plugin.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "json_settings.h"

namespace {

using namespace outrigger::plugin;
using namespace outrigger::jsonguard;

// A stream checked at its end (streaming = "check_at_end") goes out as it comes; what is kept to
// check it is bounded. Held streams are bounded by the route's max_held_bytes instead.
constexpr size_t kMaxUnheldStreamBytes = 8u << 20;


// A streamed answer as this guardrail saw it.
struct StreamedAnswer {
  bool started = false;
  bool overflow = false;  // past kMaxUnheldStreamBytes: not checkable
  std::string text;
  std::map<uint32_t, std::pair<std::string, std::string>> calls;  // index -> name, arguments
  size_t bytes = 0;
};

enum class StreamOutcome : uint8_t { kNone, kPassed, kWithheld };

struct RequestState {
  AnswerRules rules;
  uint32_t reasks = 0;
  std::string continuation;  // answers cut off at max_tokens so far (on_truncated = continue)
  StreamedAnswer stream;
  StreamOutcome stream_outcome = StreamOutcome::kNone;
  Finding stream_finding;  // why a held stream was withheld
};

class JsonGuardrail final : public Guardrail {
 public:
  static constexpr const char* kName = "json";
  static constexpr const char* kDescription =
      "Structured output: JSON answers valid for response_format or a configured schema, tool calls valid for the "
      "declared tools; re-asks with the errors, then a typed error";
  static inline const std::string& kConfigSchema = configSchema();
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  JsonGuardrail(Host host, std::string_view name, std::string_view config)
      : Guardrail(host, name), settings_(parseJsonSettings(config)), cache_(settings_.schema_cache) {}

  outrigger_status onRequest(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    auto state = std::make_unique<RequestState>();
    size_t dropped = 0;
    if (std::string why = rulesFor(req, &state->rules, &dropped); !why.empty()) {
      counter(refused_schemas_);
      return deny(OUTRIGGER_CODE_INVALID_ARGUMENT, why, result);
    }
    if (!state->rules.json_content && !state->rules.check_tools) return OUTRIGGER_CONTINUE;
    if (host().setRequestState(req.handle, std::move(state)) != OUTRIGGER_OK) {
      return deny(OUTRIGGER_CODE_FAILED_PRECONDITION, "no per-request state: the answer could not be checked", result);
    }
    if (dropped > 0) {
      patterns_dropped_.fetch_add(dropped, std::memory_order_relaxed);
      reason_ = std::to_string(dropped) + " \"pattern\" keyword(s) of the caller's schema are not enforced";
      result.verdict = OUTRIGGER_VERDICT_FLAG;
      result.reason = str(reason_);
    }
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status onChunk(const outrigger_request_view& req, const outrigger_chunk_view& chunk,
                           outrigger_guardrail_result&) override {
    auto* state = stateOf(req);
    if (!state) return OUTRIGGER_CONTINUE;
    const bool hold = held(*state);
    keep(chunk, hold, hold || state->rules.json_content, &state->stream);
    return hold ? OUTRIGGER_HOLD : OUTRIGGER_CONTINUE;
  }

  // A retried, fallen-back or re-asked stream starts the check over.
  void onStreamRestart(const outrigger_request_view& req) override {
    if (auto* state = stateOf(req)) {
      state->stream = {};
      state->stream_outcome = StreamOutcome::kNone;
      state->stream_finding = {};
    }
  }

  outrigger_status onStreamEnd(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    auto* state = stateOf(req);
    if (!state || !state->stream.started) return OUTRIGGER_CONTINUE;
    const bool hold = held(*state);
    if (state->stream.overflow) return stopStream("the streamed answer is too long to check", result);
    std::vector<ToolCallSeen> calls = callsOf(state->stream);
    std::string text = state->continuation + state->stream.text;
    Finding finding = checkAnswer(state->rules, text, calls, settings_.check);
    if (finding.ok) {
      state->stream_outcome = StreamOutcome::kPassed;
      counter(passed_);
      if (!hold || (!finding.stripped && state->continuation.empty())) return OUTRIGGER_CONTINUE;
      released_ = finding.stripped ? finding.json : text;
      reason_ = finding.stripped ? "the JSON value, without the text around it" : "the continued answer, joined";
      return release(released_, result);
    }
    // A stream already sent, or tool-call deltas (a release replaces held text only): it ends here.
    if (finding.tool_problem) counter(tool_rejections_);
    if (!hold || finding.tool_problem) return stopStream(describe(finding), result);
    state->stream_outcome = StreamOutcome::kWithheld;
    state->stream_finding = std::move(finding);
    // Nothing goes out, and nothing is rewritten yet: on_response re-asks or denies, and its
    // verdict is the one recorded, as for a unary answer.
    replaceContent({}, result);
    return OUTRIGGER_RELEASE;
  }

  outrigger_status onResponse(const outrigger_request_view& req, const outrigger_response_view& answer,
                              outrigger_guardrail_result& result) override {
    auto* state = stateOf(req);
    if (!state || state->stream_outcome == StreamOutcome::kPassed) return OUTRIGGER_CONTINUE;
    if (state->stream.started && state->stream_outcome == StreamOutcome::kNone && held(*state)) {
      counter(denied_);  // what is held was never checked at its end, so it is never released
      return deny(settings_.deny_code, "structured output unchecked: the held stream's end was not seen", result);
    }
    const bool withheld = state->stream_outcome == StreamOutcome::kWithheld;
    // A withheld stream's text never reached the host: the repair prompt quotes it.
    const std::string text = withheld ? state->stream.text : std::string(view(answer.content));
    std::vector<ToolCallSeen> calls = withheld ? callsOf(state->stream) : callsOf(answer);
    if (view(answer.finish_reason) == "length" && (state->rules.json_content || !calls.empty())) {
      return truncated(req, state, text, withheld, !calls.empty(), result);
    }
    const std::string joined = state->continuation + text;
    Finding finding = withheld ? state->stream_finding : checkAnswer(state->rules, joined, calls, settings_.check);
    if (!finding.ok) return reaskOrDeny(req, state, finding, withheld, joined, result);
    counter(passed_);
    if (!finding.stripped && state->continuation.empty()) return OUTRIGGER_CONTINUE;
    released_ = finding.stripped ? finding.json : joined;
    reason_ = finding.stripped ? "the JSON value, without the text around it" : "the continued answer, joined";
    replaceContent(released_, result);
    result.verdict = OUTRIGGER_VERDICT_REWRITE;
    result.reason = str(reason_);
    return OUTRIGGER_CONTINUE;
  }

  void reportMetrics(const MetricsWriter& out) override {
    auto n = [](const std::atomic<uint64_t>& c) { return static_cast<double>(c.load(std::memory_order_relaxed)); };
    const char* help = "Answers checked by the structured-output guardrail, by outcome";
    out.counter("json_answers_total", help, {{"outcome", "valid"}}, n(passed_));
    out.counter("json_answers_total", help, {{"outcome", "reask"}}, n(reasked_));
    out.counter("json_answers_total", help, {{"outcome", "denied"}}, n(denied_));
    out.counter("json_answers_total", help, {{"outcome", "truncated"}}, n(truncated_));
    out.counter("json_tool_calls_rejected_total", "Answers whose tool calls named no declared tool or had invalid arguments",
                {}, n(tool_rejections_));
    out.counter("json_schemas_refused_total", "Requests denied for a response_format or tool schema that was refused", {},
                n(refused_schemas_));
    out.counter("json_patterns_dropped_total", "Caller schema \"pattern\" keywords not enforced", {}, n(patterns_dropped_));
  }

 private:
  bool held(const RequestState& state) const {
    return settings_.streaming == StreamMode::kHold && state.rules.holdsStream();
  }

  // A held stream that fails is re-asked like a unary answer: nothing of it went out, and the
  // host runs every on_stream_end again for the new attempt. An unheld stream (check_at_end) went
  // out as it came, so it is denied instead.
  bool reasksLeft(const outrigger_request_view& req, const RequestState& state) const {
    return (!req.stream || held(state)) && state.reasks < settings_.max_reasks;
  }

  RequestState* stateOf(const outrigger_request_view& req) const {
    return static_cast<RequestState*>(host().requestState(req.handle));
  }

  // The rules the request implies; a reason when one of its schemas is refused.
  std::string rulesFor(const outrigger_request_view& req, AnswerRules* rules, size_t* dropped) {
    const outrigger_params_view* p = req.params;
    if (settings_.request_schemas && p) {
      if (p->response_format == OUTRIGGER_FORMAT_JSON_SCHEMA && p->response_schema_json.size > 0) {
        CompileResult c = cache_.get(view(p->response_schema_json), SchemaSource::kCaller, settings_.limits);
        if (!c.schema) return "response_format schema refused: " + c.error;
        *dropped += c.dropped_patterns;
        rules->json_content = true;
        rules->content_schema = std::move(c.schema);
        rules->schema_name.assign(view(p->response_schema_name));
      } else if (p->response_format == OUTRIGGER_FORMAT_JSON_OBJECT || p->response_format == OUTRIGGER_FORMAT_JSON_SCHEMA) {
        rules->json_content = rules->object_content = true;
      }
    }
    if (settings_.schema && (!rules->content_schema || !settings_.request_schemas)) {
      rules->json_content = true;
      rules->content_schema = settings_.schema;
      rules->schema_name.clear();
    }
    if (!settings_.tool_calls) return {};
    rules->check_tools = true;
    if (!p) return {};
    rules->setToolChoice(view(p->tool_choice));
    for (size_t i = 0; i < p->tool_count; ++i) {
      const outrigger_tool_view& t = p->tools[i];
      ToolRule rule{std::string(view(t.name)), nullptr};
      if (t.parameters_json.size > 0) {
        CompileResult c = cache_.get(view(t.parameters_json), SchemaSource::kCaller, settings_.limits);
        if (!c.schema) return "the parameters schema of tool \"" + rule.name + "\" refused: " + c.error;
        *dropped += c.dropped_patterns;
        rule.parameters = std::move(c.schema);
      }
      rules->tools.push_back(std::move(rule));
    }
    return {};
  }

  // What the check at the stream's end reads: the text only when it must be JSON or is held (a
  // release may replace it); tool calls are checked by themselves. So an unheld answer with no
  // JSON to check is not copied, nor stopped as too long to check.
  static void keep(const outrigger_chunk_view& chunk, bool held, bool text, StreamedAnswer* s) {
    s->started = true;
    if (s->overflow) return;
    if (text) s->bytes += chunk.delta.size;
    for (size_t i = 0; chunk.tool_calls && i < chunk.tool_call_count; ++i) s->bytes += chunk.tool_calls[i].arguments.size;
    if (!held && s->bytes > kMaxUnheldStreamBytes) {
      s->overflow = true;
      return;
    }
    if (text) s->text.append(view(chunk.delta));
    for (size_t i = 0; chunk.tool_calls && i < chunk.tool_call_count; ++i) {
      const outrigger_tool_call_delta_view& d = chunk.tool_calls[i];
      auto& [name, arguments] = s->calls[d.index];
      name.append(view(d.name));
      arguments.append(view(d.arguments));
    }
  }

  static std::vector<ToolCallSeen> callsOf(const StreamedAnswer& s) {
    std::vector<ToolCallSeen> calls;
    for (const auto& [index, call] : s.calls) calls.push_back({call.first, call.second});
    return calls;
  }

  static std::vector<ToolCallSeen> callsOf(const outrigger_response_view& answer) {
    std::vector<ToolCallSeen> calls;
    for (size_t i = 0; answer.tool_calls && i < answer.tool_call_count; ++i) {
      calls.push_back({view(answer.tool_calls[i].name), view(answer.tool_calls[i].arguments)});
    }
    return calls;
  }

  // finish_reason "length": the typed error, or (on_truncated = continue, text only) a request to
  // continue, whose answer is joined to this one.
  outrigger_status truncated(const outrigger_request_view& req, RequestState* state, const std::string& text, bool withheld,
                             bool has_calls, outrigger_guardrail_result& result) {
    counter(truncated_);
    const bool can_continue = settings_.on_truncated == OnTruncated::kContinue && !has_calls;
    if (!can_continue || !reasksLeft(req, *state)) {
      std::string why = "the answer was cut off at max_tokens (finish_reason length)";
      if (state->reasks > 0) why += " after " + std::to_string(state->reasks) + " re-ask(s)";
      counter(denied_);
      return deny(settings_.deny_code, "structured output incomplete: " + why, result);
    }
    state->continuation += text;
    prompt_ = kContinuationPrompt;
    // A held stream's text never reached the host, which cannot send it back: quote it whole.
    if (withheld) prompt_ += "\n\nYour answer so far:\n" + state->continuation;
    reason_ = "re-ask " + std::to_string(state->reasks + 1) + " of " + std::to_string(settings_.max_reasks) +
              ": the answer was cut off at max_tokens, asking to continue it";
    return reask(req, state, result);
  }

  // A held stream's text never reached the host, which cannot send it back: the repair prompt
  // quotes it (`withheld`, with `text`).
  outrigger_status reaskOrDeny(const outrigger_request_view& req, RequestState* state, const Finding& finding,
                               bool withheld, const std::string& text, outrigger_guardrail_result& result) {
    if (finding.tool_problem) counter(tool_rejections_);
    if (!reasksLeft(req, *state)) {
      counter(denied_);
      std::string why = describe(finding);
      if (state->reasks > 0) why += " (after " + std::to_string(state->reasks) + " re-ask(s))";
      if (req.stream && !held(*state) && settings_.max_reasks > 0) why += " (an unheld stream is not re-asked)";
      return deny(settings_.deny_code, why, result);
    }
    prompt_ = repairPrompt(settings_.repair_prompt, state->rules, finding, withheld ? text : std::string(),
                           settings_.max_quote);
    reason_ = "re-ask " + std::to_string(state->reasks + 1) + " of " + std::to_string(settings_.max_reasks) + ": " +
              joinErrors(finding.errors);
    state->continuation.clear();  // the repaired answer is a whole new one
    return reask(req, state, result);
  }

  // Asks the host to run the provider again with the repair prompt in prompt_ (and reason_ set).
  // The deny code rides along: a host that has used up the route's max_reasks denies with it.
  //
  // The re-ask is decided at once; the host asks the provider again from the loop's next turn.
  outrigger_status reask(const outrigger_request_view&, RequestState* state, outrigger_guardrail_result& result) {
    ++state->reasks;
    counter(reasked_);
    state->stream = {};
    state->stream_outcome = StreamOutcome::kNone;
    state->stream_finding = {};
    repair_ = {};
    repair_.role = str("user");
    repair_.content = str(prompt_);
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.messages = &repair_;
    action_.message_count = 1;
    action_.reask = 1;
    action_.deny_code = settings_.deny_code;
    result.verdict = OUTRIGGER_VERDICT_FLAG;
    result.reason = str(reason_);
    result.action = &action_;
    return OUTRIGGER_CONTINUE;
  }

  std::string describe(const Finding& finding) const {
    return std::string(finding.tool_problem ? "tool call invalid: " : "structured output invalid: ") +
           joinErrors(finding.errors);
  }

  outrigger_status deny(outrigger_code code, const std::string& why, outrigger_guardrail_result& result) {
    reason_ = why;
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.deny_code = code;
    result.verdict = OUTRIGGER_VERDICT_DENY;
    result.reason = str(reason_);
    result.action = &action_;
    return OUTRIGGER_STOP;
  }

  // Ends a stream that cannot be held or repaired (PERMISSION_DENIED: the host's code for a
  // stream a guardrail stops).
  outrigger_status stopStream(const std::string& why, outrigger_guardrail_result& result) {
    counter(denied_);
    reason_ = why;
    result.verdict = OUTRIGGER_VERDICT_DENY;
    result.reason = str(reason_);
    return OUTRIGGER_STOP;
  }

  outrigger_status release(std::string_view content, outrigger_guardrail_result& result) {
    replaceContent(content, result);
    result.verdict = OUTRIGGER_VERDICT_REWRITE;
    result.reason = str(reason_);
    return OUTRIGGER_RELEASE;
  }

  void replaceContent(std::string_view content, outrigger_guardrail_result& result) {
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.content = str(content);
    action_.replace_content = 1;
    result.action = &action_;
  }

  static void counter(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

  const JsonSettings settings_;
  SchemaCache cache_;  // this instance's worker only
  // What the host copies when a hook returns (one worker runs this instance: no locking).
  std::string reason_, prompt_, released_;
  outrigger_message_view repair_{};
  outrigger_guardrail_action action_{};
  // Read by reportMetrics on the main thread.
  std::atomic<uint64_t> passed_{0}, reasked_{0}, denied_{0}, truncated_{0}, tool_rejections_{0}, refused_schemas_{0},
      patterns_dropped_{0};
};

}  // namespace

OUTRIGGER_PLUGIN("guardrail_json", "1.0.0", outrigger::plugin::typeOf<JsonGuardrail>())
