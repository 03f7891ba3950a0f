// guardrail.tokens: exact token counts (tiktoken's o200k_base / cl100k_base) of the chat
// request against the model's context window and output limit, and of the answer against a cap.
// Over the window a route denies, drops the oldest non-system messages, or (cap_max_tokens)
// lowers max_tokens to what fits. README.md documents keys, counting and trust posture.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bounded_json.h"
#include "chat_tokens.h"
#include "model_limits.h"

namespace {

using namespace outrigger::plugin;
using namespace outrigger::tokens;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "action": {"enum": ["deny", "trim_oldest", "cap_max_tokens"],
               "description": "over the context window: deny, drop the oldest non-system messages, or cap max_tokens (default deny)"},
    "routes": {"type": "object", "additionalProperties": {"enum": ["deny", "trim_oldest", "cap_max_tokens"]},
               "description": "action per route name, overriding `action`"},
    "models": {"type": "array", "description": "per-model limits, first match wins, before the daemon's model table",
      "items": {"type": "object", "additionalProperties": false, "required": ["match"],
        "properties": {
          "match": {"type": "string", "minLength": 1, "description": "model name or glob (gpt-4o*, my-*-model)"},
          "encoding": {"enum": ["o200k_base", "cl100k_base"]},
          "context_window": {"type": "integer", "minimum": 1, "maximum": 1000000000, "description": "prompt + answer tokens"},
          "max_input": {"type": "integer", "minimum": 1, "maximum": 1000000000, "description": "prompt tokens, where fewer than the window less the answer"},
          "max_output": {"type": "integer", "minimum": 1, "maximum": 1000000000, "description": "largest max_tokens the model accepts"}}}},
    "use_model_table": {"type": "boolean", "description": "also read context_window/max_input/max_output from the daemon's model table, [prices] included (default true)"},
    "default_encoding": {"enum": ["o200k_base", "cl100k_base"], "description": "count models of unknown family with this (an estimate)"},
    "unknown_model": {"enum": ["pass", "flag", "deny"], "description": "verdict for a model with no known encoding (default pass)"},
    "reserve_output_tokens": {"type": "integer", "minimum": 0, "maximum": 1000000000,
                              "description": "answer tokens kept free in the window when the request sets no max_tokens (default 0)"},
    "max_prompt_tokens": {"type": "integer", "minimum": 1, "maximum": 1000000000, "description": "a prompt cap of its own, below the window"},
    "max_answer_tokens": {"type": "integer", "minimum": 1, "maximum": 1000000000, "description": "answers with more tokens get answer_action"},
    "always_count": {"type": "boolean", "description": "count every prompt, even one whose byte size already proves it fits (default false)"},
    "answer_action": {"enum": ["flag", "deny"], "description": "for an answer over max_answer_tokens (default flag)"}
  }
})json";

enum class OverAction { kDeny, kTrimOldest, kCapMaxTokens };

OverAction parseAction(std::string_view s) {
  if (s == "trim_oldest") return OverAction::kTrimOldest;
  if (s == "cap_max_tokens") return OverAction::kCapMaxTokens;
  return OverAction::kDeny;
}

std::string u(uint64_t v) { return std::to_string(v); }

class TokensGuardrail final : public Guardrail {
 public:
  static constexpr const char* kName = "tokens";
  static constexpr const char* kDescription =
      "Exact tiktoken counts (o200k_base, cl100k_base) against per-model context windows: deny, trim or cap";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  TokensGuardrail(Host host, std::string_view name, std::string_view config) : Guardrail(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    auto text = [&](const char* k, const char* def) { return std::string(d.HasMember(k) ? d[k].GetString() : def); };
    auto number = [&](const char* k) { return d.HasMember(k) ? d[k].GetUint64() : uint64_t(0); };
    action_ = parseAction(text("action", "deny"));
    if (d.HasMember("routes")) {
      for (const auto& r : d["routes"].GetObject()) route_actions_[r.name.GetString()] = parseAction(r.value.GetString());
    }
    std::vector<ModelRule> rules;
    if (d.HasMember("models")) {
      for (const auto& m : d["models"].GetArray()) {
        ModelRule r{m["match"].GetString(), {}};
        r.limits.encoding = m.HasMember("encoding") ? m["encoding"].GetString() : "";
        r.limits.context_window = m.HasMember("context_window") ? m["context_window"].GetUint64() : 0;
        r.limits.max_input = m.HasMember("max_input") ? m["max_input"].GetUint64() : 0;
        r.limits.max_output = m.HasMember("max_output") ? m["max_output"].GetUint64() : 0;
        r.limits.source = "models[" + std::to_string(rules.size()) + "]";
        rules.push_back(std::move(r));
      }
    }
    models_ = std::make_unique<ModelTable>(std::move(rules), !d.HasMember("use_model_table") || d["use_model_table"].GetBool());
    default_encoding_ = text("default_encoding", "");
    unknown_model_ = text("unknown_model", "pass");
    reserve_output_ = number("reserve_output_tokens");
    max_prompt_ = number("max_prompt_tokens");
    max_answer_ = number("max_answer_tokens");
    deny_long_answer_ = text("answer_action", "flag") == "deny";
    always_count_ = d.HasMember("always_count") && d["always_count"].GetBool();
    // Build the tables now, on the main thread, not on the first request.
    for (std::string_view e : BpeEncoding::names()) BpeEncoding::byName(e);
  }

  outrigger_status onRequest(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    std::optional<ModelLimits> limits = limitsFor(req);
    if (!limits) return unknownModel(req, result);
    bool has_max = req.params && (req.params->present & OUTRIGGER_PARAM_MAX_TOKENS);
    uint64_t asked = has_max ? req.params->max_tokens : 0;
    OverAction action = actionFor(view(req.route));
    // The output limit needs no count: it holds before counting, and for a model with no encoding.
    const bool over_output = has_max && limits->max_output && asked > limits->max_output;
    if (over_output && action != OverAction::kCapMaxTokens) {
      return denyInvalid(result, "max_tokens " + u(asked) + " is over the " + u(limits->max_output) +
                                     "-token output limit of " + std::string(view(req.model)));
    }
    if (limits->encoding.empty()) {  // the prompt cannot be counted
      if (!over_output) return unknownModel(req, result);
      return capMaxTokens(result, limits->max_output, "max_tokens " + u(asked) + " capped to the " +
                                                          u(limits->max_output) + "-token output limit of " +
                                                          std::string(view(req.model)));
    }
    std::string window = limits->context_window ? " of " + u(limits->context_window) : "";
    if (!always_count_ && fitsWithoutCounting(req, *limits, action, has_max, asked)) {
      return verdict(result, OUTRIGGER_VERDICT_PASS, "prompt at most " + u(promptTokensUpperBound(req)) + " tokens (" +
                                                         limits->encoding + ", by its bytes)" + window);
    }
    // Counting is CPU work on the request's loop: about 20-50 MB/s, so a 500 KB prompt near a
    // 128k window takes 10-25 ms. The byte bound above spares every prompt far from its window.
    const BpeEncoding& enc = *BpeEncoding::byName(limits->encoding);
    PromptCount count = countPrompt(enc, req);
    std::string what = "prompt " + u(count.total) + " tokens (" + limits->encoding + ")";
    uint64_t output = has_max ? asked : reserve_output_;
    if (action == OverAction::kCapMaxTokens) output = 0;  // the prompt must fit; max_tokens is reported below
    uint64_t budget = promptBudget(*limits, output);
    if (budget != UINT64_MAX && count.total > budget) {
      if (action == OverAction::kTrimOldest) return trim(req, count, budget, *limits, result);
      return denyInvalid(result, over(what, *limits, output, view(req.model)));
    }
    if (action == OverAction::kCapMaxTokens && has_max && (limits->context_window || limits->max_output)) {
      // The room the window leaves, and the output limit: whichever is known, the smaller of both.
      const bool window_binds =
          limits->context_window && (!limits->max_output || limits->context_window - count.total < limits->max_output);
      uint64_t room = window_binds ? limits->context_window - count.total : limits->max_output;
      if (asked > room) {
        if (room == 0) {
          return denyInvalid(result, what + " leaves no room for an answer in the " + u(limits->context_window) +
                                         "-token window of " + std::string(view(req.model)));
        }
        std::string fit = window_binds ? "the " + u(limits->context_window) + "-token window"
                                       : "the " + u(limits->max_output) + "-token output limit";
        return capMaxTokens(result, room,
                            what + ": max_tokens " + u(asked) + " capped to " + u(room) + " to fit " + fit + " of " +
                                std::string(view(req.model)));
      }
    }
    return verdict(result, OUTRIGGER_VERDICT_PASS, what + window);
  }

  // With answer_action = "deny", a streamed answer stops at the chunk that takes it over
  // max_answer_tokens, before that chunk goes out. Each chunk is counted alone and the counts
  // summed; the text so far is counted whole only when the sum passes the cap (text joined across
  // a chunk boundary almost always counts fewer tokens, and on_response counts the whole answer at
  // the end in any case), and the sum goes on from that exact count, so a long answer is not
  // recounted at every chunk.
  outrigger_status onChunk(const outrigger_request_view& req, const outrigger_chunk_view& chunk,
                           outrigger_guardrail_result& result) override {
    if (!max_answer_ || !deny_long_answer_ || !req.stream) return OUTRIGGER_CONTINUE;  // on_response decides a unary one
    StreamedAnswer* answer = streamedAnswer(req);
    if (!answer) return OUTRIGGER_CONTINUE;  // on_response still checks the whole answer
    if (!answer->looked_up) {  // once an answer: its model's encoding does not change within it
      std::optional<ModelLimits> limits = limitsFor(req);
      answer->encoding = limits && !limits->encoding.empty() ? BpeEncoding::byName(limits->encoding) : nullptr;
      answer->looked_up = true;
    }
    if (!answer->encoding) return OUTRIGGER_CONTINUE;
    const BpeEncoding& enc = *answer->encoding;
    answer->content.append(view(chunk.delta));
    answer->counted += enc.count(view(chunk.delta));
    for (size_t i = 0; chunk.tool_calls && i < chunk.tool_call_count; ++i) {
      const outrigger_tool_call_delta_view& d = chunk.tool_calls[i];
      if (answer->calls.size() <= d.index) answer->calls.resize(d.index + 1);
      answer->calls[d.index].name.append(view(d.name));
      answer->calls[d.index].arguments.append(view(d.arguments));
      answer->counted += enc.count(view(d.name)) + enc.count(view(d.arguments));
    }
    if (answer->counted <= max_answer_) return OUTRIGGER_CONTINUE;
    answer->counted = answer->exactCount(enc);
    if (answer->counted <= max_answer_) return OUTRIGGER_CONTINUE;
    return verdict(result, OUTRIGGER_VERDICT_DENY,
                   "answer stopped at " + u(answer->counted) + " tokens (" + std::string(enc.name()) + "), over max_answer_tokens " +
                       u(max_answer_));
  }

  void onStreamRestart(const outrigger_request_view& req) override {
    if (auto* answer = static_cast<StreamedAnswer*>(host().requestState(req.handle))) *answer = {};
  }

  outrigger_status onResponse(const outrigger_request_view& req, const outrigger_response_view& resp,
                              outrigger_guardrail_result& result) override {
    if (resp.code != OUTRIGGER_CODE_OK) return OUTRIGGER_CONTINUE;
    std::optional<ModelLimits> limits = limitsFor(req);
    if (!limits || limits->encoding.empty()) return OUTRIGGER_CONTINUE;
    uint64_t n = answerTokens(*BpeEncoding::byName(limits->encoding), resp);
    std::string what = "answer " + u(n) + " tokens (" + limits->encoding + ")";
    if (max_answer_ && n > max_answer_) {
      return verdict(result, deny_long_answer_ ? OUTRIGGER_VERDICT_DENY : OUTRIGGER_VERDICT_FLAG,
                     what + ", over max_answer_tokens " + u(max_answer_));
    }
    return verdict(result, OUTRIGGER_VERDICT_PASS, what);
  }

 private:
  // What a stream has sent so far, for onChunk.
  struct StreamedAnswer {
    struct Call {
      std::string name, arguments;
    };
    bool looked_up = false;
    const BpeEncoding* encoding = nullptr;  // the model's; null: its tokens cannot be counted
    std::string content;
    std::vector<Call> calls;
    uint64_t counted = 0;  // at least the tokens of the text so far
    uint64_t exactCount(const BpeEncoding& enc) const {
      uint64_t n = enc.count(content);
      for (const Call& c : calls) n += enc.count(c.name) + enc.count(c.arguments);
      return n;
    }
  };

  StreamedAnswer* streamedAnswer(const outrigger_request_view& req) const {
    if (auto* answer = static_cast<StreamedAnswer*>(host().requestState(req.handle))) return answer;
    if (host().setRequestState(req.handle, std::make_unique<StreamedAnswer>()) != OUTRIGGER_OK) return nullptr;
    return static_cast<StreamedAnswer*>(host().requestState(req.handle));
  }

  std::optional<ModelLimits> limitsFor(const outrigger_request_view& req) const {
    // The daemon's table, [prices] included; an older host has none to ask.
    auto host_table = [&](std::string_view model, ModelLimits* out) {
      outrigger_model_limits l;
      if (host().modelLimits(req.handle, model, &l) != OUTRIGGER_OK) return false;
      *out = ModelLimits{{}, l.context_window, l.max_input, l.max_output, {}};
      if (l.provider.size) out->source = "price table " + std::string(view(l.provider)) + "/" + std::string(view(l.model));
      return true;
    };
    std::optional<ModelLimits> l = models_->find(view(req.model), host_table);
    if (l && l->encoding.empty()) l->encoding = default_encoding_;
    if (!l && !default_encoding_.empty()) l = ModelLimits{default_encoding_, 0, 0, 0, "default_encoding"};
    return l;  // the encoding may still be unknown: only a limit that needs no count applies then
  }

  // True when the prompt's byte bound already fits everything onRequest checks.
  bool fitsWithoutCounting(const outrigger_request_view& req, const ModelLimits& l, OverAction action, bool has_max,
                           uint64_t asked) const {
    if (has_max && l.max_output && asked > l.max_output) return false;
    uint64_t output = action == OverAction::kCapMaxTokens ? asked : (has_max ? asked : reserve_output_);
    uint64_t budget = promptBudget(l, output);
    return budget == UINT64_MAX || promptTokensUpperBound(req) <= budget;
  }

  OverAction actionFor(std::string_view route) const {
    auto it = route_actions_.find(std::string(route));
    return it == route_actions_.end() ? action_ : it->second;
  }

  // The most prompt tokens allowed with `output` answer tokens kept free; UINT64_MAX: no limit.
  uint64_t promptBudget(const ModelLimits& l, uint64_t output) const {
    uint64_t budget = max_prompt_ ? max_prompt_ : UINT64_MAX;
    if (l.context_window) budget = std::min(budget, output >= l.context_window ? 0 : l.context_window - output);
    if (l.max_input) budget = std::min(budget, l.max_input);
    return budget;
  }

  std::string over(const std::string& what, const ModelLimits& l, uint64_t output, std::string_view model) const {
    std::string s = what + " is over the " + u(promptBudget(l, output)) + "-token budget of " + std::string(model);
    if (l.context_window) {
      s += " (window " + u(l.context_window) + (output ? ", " + u(output) + " kept for the answer" : "") +
           (l.max_input ? ", at most " + u(l.max_input) + " for the prompt" : "") + ")";
    } else if (l.max_input) {
      s += " (at most " + u(l.max_input) + " for the prompt)";
    }
    return s;
  }

  outrigger_status capMaxTokens(outrigger_guardrail_result& result, uint64_t to, std::string reason) {
    action_view_ = {};
    action_view_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_view_.max_tokens = static_cast<uint32_t>(std::min<uint64_t>(to, UINT32_MAX));
    action_view_.replace_max_tokens = 1;
    result.action = &action_view_;
    return verdict(result, OUTRIGGER_VERDICT_REWRITE, std::move(reason));
  }

  outrigger_status trim(const outrigger_request_view& req, const PromptCount& count, uint64_t budget,
                        const ModelLimits& limits, outrigger_guardrail_result& result) {
    TrimPlan plan;
    std::string what = "prompt " + u(count.total) + " tokens (" + limits.encoding + ")";
    if (!planTrim(req, count, budget, &plan)) {
      return denyInvalid(result,
                     what + " cannot be trimmed under " + u(budget) + " tokens: system messages and the last message alone are over");
    }
    kept_.clear();
    for (size_t i : plan.keep) kept_.push_back(req.messages[i]);
    action_view_ = {};
    action_view_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_view_.messages = kept_.data();
    action_view_.message_count = kept_.size();
    result.action = &action_view_;
    return verdict(result, OUTRIGGER_VERDICT_REWRITE,
                   what + " trimmed to " + u(plan.total) + " of " + u(budget) + ": dropped the oldest " + u(plan.dropped) +
                       " non-system message(s)");
  }

  outrigger_status unknownModel(const outrigger_request_view& req, outrigger_guardrail_result& result) {
    std::string why = "no token encoding known for model " + std::string(view(req.model));
    if (unknown_model_ == "deny") return verdict(result, OUTRIGGER_VERDICT_DENY, why);
    return verdict(result, unknown_model_ == "flag" ? OUTRIGGER_VERDICT_FLAG : OUTRIGGER_VERDICT_PASS, why);
  }

  // A request that can never pass as sent (over the window or the output limit) ends as
  // INVALID_ARGUMENT, an HTTP 400 like the providers' own context-length errors, not a policy 403.
  outrigger_status denyInvalid(outrigger_guardrail_result& result, std::string reason) {
    action_view_ = {};
    action_view_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_view_.deny_code = OUTRIGGER_CODE_INVALID_ARGUMENT;
    result.action = &action_view_;
    return verdict(result, OUTRIGGER_VERDICT_DENY, std::move(reason));
  }

  outrigger_status verdict(outrigger_guardrail_result& result, outrigger_verdict v, std::string reason) {
    reason_ = std::move(reason);
    result.verdict = v;
    result.reason = str(reason_);
    return v == OUTRIGGER_VERDICT_DENY ? OUTRIGGER_STOP : OUTRIGGER_CONTINUE;
  }

  OverAction action_ = OverAction::kDeny;
  std::map<std::string, OverAction> route_actions_;
  std::unique_ptr<ModelTable> models_;
  std::string default_encoding_, unknown_model_;
  uint64_t reserve_output_ = 0, max_prompt_ = 0, max_answer_ = 0;
  bool deny_long_answer_ = false;
  bool always_count_ = false;
  // Back result.reason / result.action until the host copies them (when the hook returns).
  std::string reason_;
  std::vector<outrigger_message_view> kept_;
  outrigger_guardrail_action action_view_{};
};

}  // namespace

OUTRIGGER_PLUGIN("guardrail_tokens", "1.0.0", outrigger::plugin::typeOf<TokensGuardrail>())
