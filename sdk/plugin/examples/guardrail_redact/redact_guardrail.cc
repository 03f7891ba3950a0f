// guardrail.redact: reversible redaction of one secret word, in both directions (ABI 1.2).
//
// On the request, every occurrence of `word` becomes `placeholder` (REWRITE): the provider, the
// cache key and the record never see the word. The request keeps a note that it did (per-request
// state). On the way back, with `restore`, the placeholder becomes the word again: in a whole
// answer by REWRITE; in a stream by holding chunks back while they might end inside a
// placeholder and releasing them restored (HOLD / RELEASE, and on_stream_end for the rest).
#include <outrigger/plugin.hpp>

#include <memory>
#include <string>
#include <vector>

namespace {

using outrigger::plugin::str;
using outrigger::plugin::view;

// A value of a flat JSON object the host already validated against the schema (a real plugin
// would use a JSON library).
std::string configValue(std::string_view config, std::string_view key, std::string fallback) {
  std::string needle = "\"" + std::string(key) + "\":";
  size_t at = config.find(needle);
  if (at == std::string_view::npos) return fallback;
  at += needle.size();
  if (config[at] != '"') return std::string(config.substr(at, config.find_first_of(",}", at) - at));
  return std::string(config.substr(at + 1, config.find('"', at + 1) - at - 1));
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
  return text;
}

// Per request: that the request was redacted, and the stream text held back so far.
struct Redacted {
  std::string held;
};

class RedactGuardrail final : public outrigger::plugin::Guardrail {
 public:
  static constexpr const char* kName = "redact";
  static constexpr const char* kDescription = "Replaces a secret word with a placeholder, and back";
  static constexpr const char* kConfigSchema = R"json({
    "type": "object", "additionalProperties": false, "required": ["word"],
    "properties": {"word": {"type": "string", "minLength": 1},
                   "placeholder": {"type": "string", "minLength": 1},
                   "restore": {"type": "boolean"}}
  })json";
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_EXPERIMENTAL;

  RedactGuardrail(outrigger::plugin::Host host, std::string_view name, std::string_view config)
      : Guardrail(host, name),
        word_(configValue(config, "word", "")),
        placeholder_(configValue(config, "placeholder", "[REDACTED]")),
        restore_(configValue(config, "restore", "false") == "true") {}

  outrigger_status onRequest(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    bool found = false;
    for (size_t i = 0; i < req.message_count; ++i) found = found || view(req.messages[i].content).find(word_) != std::string_view::npos;
    if (!found) return OUTRIGGER_CONTINUE;
    // The new messages live in this instance until the hook returns; the host copies them.
    texts_.clear();
    messages_.clear();
    for (size_t i = 0; i < req.message_count; ++i) texts_.push_back(replaceAll(std::string(view(req.messages[i].content)), word_, placeholder_));
    for (size_t i = 0; i < req.message_count; ++i) {
      outrigger_message_view m = req.messages[i];
      m.content = str(texts_[i]);
      messages_.push_back(m);
    }
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.messages = messages_.data();
    action_.message_count = messages_.size();
    result.verdict = OUTRIGGER_VERDICT_REWRITE;
    result.reason = str("redacted a secret");
    result.action = &action_;
    if (restore_) host().setRequestState(req.handle, std::make_unique<Redacted>());
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status onChunk(const outrigger_request_view& req, const outrigger_chunk_view& chunk,
                           outrigger_guardrail_result& result) override {
    auto* state = static_cast<Redacted*>(host().requestState(req.handle));
    if (!state) return OUTRIGGER_CONTINUE;  // nothing was redacted: nothing to restore
    state->held.append(view(chunk.delta));
    // Hold while the text might end inside a placeholder; release the rest restored.
    if (endsInsidePlaceholder(state->held)) return OUTRIGGER_HOLD;
    return release(state, result);
  }

  outrigger_status onStreamEnd(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    auto* state = static_cast<Redacted*>(host().requestState(req.handle));
    if (!state) return OUTRIGGER_CONTINUE;
    return release(state, result);
  }

  // The stream starts over before any chunk reached the caller (a retry, a fallback, a re-ask):
  // the host dropped what it held, so the earlier attempt's text must not join the new one.
  void onStreamRestart(const outrigger_request_view& req) override {
    if (auto* state = static_cast<Redacted*>(host().requestState(req.handle))) state->held.clear();
  }

  outrigger_status onResponse(const outrigger_request_view& req, const outrigger_response_view& answer,
                              outrigger_guardrail_result& result) override {
    if (!req.stream && host().requestState(req.handle)) {
      released_ = replaceAll(std::string(view(answer.content)), placeholder_, word_);
      action_ = {};
      action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
      action_.content = str(released_);
      action_.replace_content = 1;
      action_.restores_caller_values = released_ != view(answer.content);
      result.verdict = OUTRIGGER_VERDICT_REWRITE;
      result.action = &action_;
    }
    return OUTRIGGER_CONTINUE;
  }

 private:
  bool endsInsidePlaceholder(const std::string& text) const {
    for (size_t n = 1; n < placeholder_.size() && n <= text.size(); ++n) {
      if (text.compare(text.size() - n, n, placeholder_, 0, n) == 0) return true;
    }
    return false;
  }
  outrigger_status release(Redacted* state, outrigger_guardrail_result& result) {
    released_ = replaceAll(state->held, placeholder_, word_);
    bool restored = released_ != state->held;
    state->held.clear();
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.content = str(released_);
    action_.replace_content = 1;
    // The caller's word is back in the answer: a record must not keep it (the prompt it keeps
    // was redacted of it).
    action_.restores_caller_values = restored;
    if (restored) result.verdict = OUTRIGGER_VERDICT_REWRITE;
    result.action = &action_;
    return OUTRIGGER_RELEASE;
  }

  const std::string word_, placeholder_;
  const bool restore_;
  // What the host copies when a hook returns (one worker runs this instance: no locking).
  std::vector<std::string> texts_;
  std::vector<outrigger_message_view> messages_;
  std::string released_;
  outrigger_guardrail_action action_{};
};

}  // namespace

OUTRIGGER_PLUGIN("guardrail_redact", "0.1.0", outrigger::plugin::typeOf<RedactGuardrail>())
