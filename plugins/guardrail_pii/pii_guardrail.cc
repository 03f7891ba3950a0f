// guardrail.pii: finds personal data and secrets (Vectorscan patterns confirmed by validators)
// in the request and the answer, and redacts, masks, hashes, denies or flags them per entity.
// Detection lives in detector.h, the actions in redaction.h, the streaming hold-back in
// stream_redactor.h; this file is the plugin glue: hooks, per-request state, fail-closed policy
// and metrics.
#include <outrigger/plugin.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "json_strings.h"
#include "pii_settings.h"
#include "stream_redactor.h"

namespace {

using namespace outrigger::plugin;
using namespace outrigger::pii;

constexpr char kRedactedAll[] = "<REDACTED>";
constexpr uint32_t kMaxStreamedCalls = 128;  // tool calls a streamed answer may gather
constexpr size_t kMaxStreamedCallBytes = 4 << 20;  // and their bytes: past it the stream fails closed

// What one request carries between hooks: its placeholders and, for a streamed answer, the
// stream's hold-back.
struct RequestState {
  PlaceholderBook book;
  std::unique_ptr<StreamRedactor> stream;
  bool stream_failed = false;  // detection failed mid-stream with redact_all: the rest is withheld
  std::string host_held;       // chunk text the host holds for this guardrail since its last release
  // A streamed answer's tool calls, gathered from their deltas, which never go out as they
  // come: each call is released whole, redacted, when the stream ends.
  std::vector<std::array<std::string, 4>> call_parts;  // id, type, name, arguments, by delta index
  size_t call_bytes = 0;
  bool calls_seen = false;
};

class PiiGuardrail final : public Guardrail {
 public:
  static constexpr const char* kName = "pii";
  static constexpr const char* kDescription =
      "Personal data and secrets (validated): redact with numbered placeholders, mask, hash, deny or flag";
  static constexpr const char* kConfigSchema = kPiiConfigSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  PiiGuardrail(Host host, std::string_view name, std::string_view config)
      : Guardrail(host, name),
        settings_(parsePiiSettings(config)),
        scanner_(settings_.detector->database(), settings_.max_candidates),
        request_redactor_(*settings_.detector, settings_.request_policy),
        response_redactor_(*settings_.detector, settings_.response_policy),
        detections_(settings_.detector->entityCount() * 2) {
    if (!scanner_.allocError().empty()) throw std::runtime_error(scanner_.allocError());
    scanner_.failForTest(settings_.fail_scans_for_test);
  }

  outrigger_status onRequest(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    if (!settings_.scan_request) return OUTRIGGER_CONTINUE;
    auto state = std::make_unique<RequestState>();
    Outcome outcome;
    texts_.assign(req.message_count, std::string());
    request_args_.assign(req.message_count, {});
    for (size_t i = 0; i < req.message_count; ++i) {
      const std::string_view text = view(req.messages[i].content);
      std::vector<Detection> found;
      if (std::string err = settings_.detector->detect(scanner_, text, &found); !err.empty()) {
        return detectorFailedOnRequest(req, err, result);
      }
      request_redactor_.apply(text, 0, 0, text.size(), found, state->book, settings_.reversible, &texts_[i], &outcome);
      // An assistant turn's tool calls in the history: their arguments go to the provider too.
      if (std::string err = redactArguments(req.messages[i].tool_calls, req.messages[i].tool_call_count, request_redactor_,
                                            state->book, settings_.reversible, &request_args_[i], &outcome);
          !err.empty()) {
        return detectorFailedOnRequest(req, err, result);
      }
    }
    count(outcome, 0);
    if (outcome.denied) return deny("request", outcome, result);
    if (outcome.changed) {
      rewriteMessages(req, result);
      reason_ = "redacted " + summary(outcome) + " in the request";
    } else if (outcome.flagged) {
      result.verdict = OUTRIGGER_VERDICT_FLAG;
      reason_ = "personal data in the request: " + summary(outcome);
    }
    result.reason = str(reason_);
    // The answer's placeholders continue the request's numbering (and restore from it).
    if (state->book.placeholderCount() > 0) host().setRequestState(req.handle, std::move(state));
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status onChunk(const outrigger_request_view& req, const outrigger_chunk_view& chunk,
                           outrigger_guardrail_result& result) override {
    if (!settings_.scan_response) return OUTRIGGER_CONTINUE;
    std::string start_error;
    RequestState* state = streamState(req, &start_error);
    if (!state) return detectorFailedOnStream(start_error, result);
    if (state->stream_failed) return releaseNothing(result);
    if (!gatherCalls(chunk, state)) {
      state->stream_failed = true;
      return detectorFailedOnStream("tool-call arguments over 4 MiB", result);
    }
    state->host_held.append(view(chunk.delta));
    Outcome outcome;
    released_.clear();
    if (std::string err = state->stream->feed(scanner_, view(chunk.delta), &released_, &outcome); !err.empty()) {
      state->stream_failed = true;
      return detectorFailedOnStream(err, result);
    }
    return decideChunk(state, outcome, /*at_end=*/false, result);
  }

  // A retried, fallen-back or re-asked stream: the earlier attempt's hold-back (and what the host
  // held for it) is gone; its text must not be joined to the new attempt's. Placeholders stay.
  void onStreamRestart(const outrigger_request_view& req) override {
    auto* state = static_cast<RequestState*>(host().requestState(req.handle));
    if (!state) return;
    state->stream.reset();
    state->stream_failed = false;
    state->host_held.clear();
    state->call_parts.clear();
    state->call_bytes = 0;
    state->calls_seen = false;
  }

  outrigger_status onStreamEnd(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    if (!settings_.scan_response) return OUTRIGGER_CONTINUE;
    auto* state = static_cast<RequestState*>(host().requestState(req.handle));
    if (!state || !state->stream) return OUTRIGGER_CONTINUE;  // no chunk came: on_response sees the answer
    if (state->stream_failed) return releaseNothing(result);
    Outcome outcome;
    released_.clear();
    if (std::string err = state->stream->finish(scanner_, &released_, &outcome); !err.empty()) {
      state->stream_failed = true;
      return detectorFailedOnStream(err, result);
    }
    if (state->calls_seen) {
      std::vector<std::string> arguments;
      std::vector<outrigger_tool_call_view> gathered = gatheredCalls(*state);
      if (std::string err = redactArguments(gathered.data(), gathered.size(), response_redactor_, state->book, false,
                                            &arguments, &outcome);
          !err.empty()) {
        state->stream_failed = true;
        return detectorFailedOnStream(err + " in tool-call arguments", result);
      }
      if (settings_.reversible) {
        for (std::string& a : arguments) a = restoreArguments(a, state->book);
      }
      answer_args_ = std::move(arguments);
      answer_calls_ = withArguments(gathered.data(), answer_args_);
    }
    return decideChunk(state, outcome, /*at_end=*/true, result);
  }

  outrigger_status onResponse(const outrigger_request_view& req, const outrigger_response_view& answer,
                              outrigger_guardrail_result& result) override {
    if (!settings_.scan_response) return OUTRIGGER_CONTINUE;
    auto* state = static_cast<RequestState*>(host().requestState(req.handle));
    if (state && state->stream) return OUTRIGGER_CONTINUE;  // decided chunk by chunk, its tool calls at its end
    RequestState scratch;
    PlaceholderBook& book = state ? state->book : scratch.book;
    const std::string_view text = view(answer.content);
    std::vector<Detection> found;
    if (std::string err = settings_.detector->detect(scanner_, text, &found); !err.empty()) {
      return detectorFailedOnAnswer(answer, err, result);
    }
    Outcome outcome;
    std::string redacted;
    response_redactor_.apply(text, 0, 0, text.size(), found, book, false, &redacted, &outcome);
    // Tool-call arguments are what a tool receives: scanned and redacted like the text, and in
    // reversible mode given back the caller's values (the tool needs the real address).
    std::vector<std::string> arguments;
    if (std::string err = redactArguments(answer.tool_calls, answer.tool_call_count, response_redactor_, book, false,
                                          &arguments, &outcome);
        !err.empty()) {
      return detectorFailedOnAnswer(answer, err + " in tool-call arguments", result);
    }
    count(outcome, 1);
    if (outcome.denied) return deny("answer", outcome, result);
    released_ = settings_.reversible ? restorePlaceholders(redacted, book) : std::move(redacted);
    bool restored = settings_.reversible && released_ != redacted;
    bool arguments_changed = false;
    for (size_t i = 0; i < arguments.size(); ++i) {
      if (settings_.reversible) {
        std::string given_back = restoreArguments(arguments[i], book);
        restored = restored || given_back != arguments[i];
        arguments[i] = std::move(given_back);
      }
      arguments_changed = arguments_changed || arguments[i] != view(answer.tool_calls[i].arguments);
    }
    const bool text_changed = released_ != text;
    if (text_changed || arguments_changed) {
      action_ = {};
      action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
      action_.restores_caller_values = restored;  // the trace store must not keep the caller's values
      if (text_changed) {
        action_.content = str(released_);
        action_.replace_content = 1;
      }
      if (arguments_changed) {
        answer_args_ = std::move(arguments);
        answer_calls_ = withArguments(answer.tool_calls, answer_args_);
        action_.tool_calls = answer_calls_.data();
        action_.tool_call_count = answer_calls_.size();
        action_.replace_tool_calls = 1;
      }
      result.action = &action_;
      result.verdict = OUTRIGGER_VERDICT_REWRITE;
      reason_ = outcome.changed ? "redacted " + summary(outcome) + " in the answer" : "restored the caller's values";
    } else if (outcome.flagged) {
      result.verdict = OUTRIGGER_VERDICT_FLAG;
      reason_ = "personal data in the answer: " + summary(outcome);
    }
    result.reason = str(reason_);
    return OUTRIGGER_CONTINUE;
  }

  void reportMetrics(const MetricsWriter& out) override {
    static const char* const kSides[] = {"request", "response"};
    for (size_t i = 0; i < detections_.size(); ++i) {
      const uint64_t n = detections_[i].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out.counter("pii_detections_total", "Personal data detections by entity and side",
                  {{"entity", settings_.detector->entity(i / 2).name}, {"side", kSides[i % 2]}}, static_cast<double>(n));
    }
    out.counter("pii_fail_closed_total", "Detector failures that denied or redacted everything", {},
                static_cast<double>(fail_closed_.load(std::memory_order_relaxed)));
    out.counter("pii_denials_total", "Requests and answers denied for the data they held", {},
                static_cast<double>(denials_.load(std::memory_order_relaxed)));
  }

 private:
  // The request's state with its stream open; nullptr and `error` when either fails.
  RequestState* streamState(const outrigger_request_view& req, std::string* error) {
    auto* state = static_cast<RequestState*>(host().requestState(req.handle));
    if (!state) {
      auto fresh = std::make_unique<RequestState>();
      state = fresh.get();
      if (host().setRequestState(req.handle, std::move(fresh)) != OUTRIGGER_OK) {
        *error = "no per-request state";
        return nullptr;
      }
    }
    if (!state->stream) {
      state->stream = std::make_unique<StreamRedactor>(*settings_.detector, response_redactor_, state->book, settings_.reversible);
      if (std::string err = state->stream->start(scanner_); !err.empty()) {
        state->stream_failed = true;
        *error = err;
        return nullptr;
      }
    }
    return state;
  }

  // What leaves after a chunk (or the end): nothing yet (HOLD), the chunk unchanged (CONTINUE),
  // or the released text in place of everything held (RELEASE).
  outrigger_status decideChunk(RequestState* state, const Outcome& outcome, bool at_end, outrigger_guardrail_result& result) {
    count(outcome, 1);
    if (outcome.denied) return deny("answer", outcome, result);
    if (outcome.flagged) {
      result.verdict = OUTRIGGER_VERDICT_FLAG;
      reason_ = "personal data in the answer: " + summary(outcome);
      result.reason = str(reason_);
    }
    if (outcome.changed) {
      result.verdict = OUTRIGGER_VERDICT_REWRITE;
      reason_ = "redacted " + summary(outcome) + " in the answer";
      result.reason = str(reason_);
    }
    if (!at_end && released_.empty() && state->stream->held() > 0) return OUTRIGGER_HOLD;
    if (released_ == state->host_held && !state->calls_seen) {  // exactly what the host holds: let it go unchanged
      state->host_held.clear();
      return OUTRIGGER_CONTINUE;
    }
    // Hold-back keeps a tail: the host's held bytes are replaced by what is released now, and
    // the tail comes back in a later release. Held tool-call deltas are replaced by nothing
    // until the end, then by the whole calls, redacted.
    state->host_held.clear();
    replaceContent(released_, result);
    // What a reversible stream releases may hold restored values: the trace store keeps no
    // answer text for it (it would hold what the kept prompt was redacted of).
    action_.restores_caller_values = settings_.reversible && state->book.restorableCount() > 0;
    if (state->calls_seen) {
      if (!at_end) answer_calls_.clear();
      action_.tool_calls = answer_calls_.data();
      action_.tool_call_count = answer_calls_.size();
      action_.replace_tool_calls = 1;
    }
    return OUTRIGGER_RELEASE;
  }

  outrigger_status releaseNothing(outrigger_guardrail_result& result) {
    replaceContent({}, result);
    action_.replace_tool_calls = 1;  // held tool-call deltas are withheld too
    return OUTRIGGER_RELEASE;
  }

  // Fail closed: a request the detector could not read is denied, or sent with every message
  // replaced (on_detector_error = redact_all). Never passed as it is.
  outrigger_status detectorFailedOnRequest(const outrigger_request_view& req, const std::string& err,
                                           outrigger_guardrail_result& result) {
    fail_closed_.fetch_add(1, std::memory_order_relaxed);
    host().log(OUTRIGGER_LOG_WARN, "pii detection failed on a request: " + err);
    if (settings_.on_error == OnDetectorError::kDeny) return denyFailed(err, result);
    texts_.assign(req.message_count, kRedactedAll);
    request_args_.assign(req.message_count, {});
    for (size_t i = 0; i < req.message_count; ++i) request_args_[i].assign(req.messages[i].tool_call_count, "{}");
    rewriteMessages(req, result);
    reason_ = "PII detection failed (" + err + "): every message redacted";
    result.reason = str(reason_);
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status detectorFailedOnAnswer(const outrigger_response_view& answer, const std::string& err,
                                          outrigger_guardrail_result& result) {
    fail_closed_.fetch_add(1, std::memory_order_relaxed);
    host().log(OUTRIGGER_LOG_WARN, "pii detection failed on an answer: " + err);
    if (settings_.on_error == OnDetectorError::kDeny) return denyFailed(err, result);
    released_ = kRedactedAll;
    replaceContent(released_, result);
    if (answer.tool_call_count > 0) {  // the calls' arguments are withheld too
      answer_args_.assign(answer.tool_call_count, "{}");
      answer_calls_ = withArguments(answer.tool_calls, answer_args_);
      action_.tool_calls = answer_calls_.data();
      action_.tool_call_count = answer_calls_.size();
      action_.replace_tool_calls = 1;
    }
    result.verdict = OUTRIGGER_VERDICT_REWRITE;
    reason_ = "PII detection failed (" + err + "): answer redacted";
    result.reason = str(reason_);
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status detectorFailedOnStream(const std::string& err, outrigger_guardrail_result& result) {
    fail_closed_.fetch_add(1, std::memory_order_relaxed);
    host().log(OUTRIGGER_LOG_WARN, "pii detection failed on a stream: " + err);
    if (settings_.on_error == OnDetectorError::kDeny) return denyFailed(err, result);
    released_ = kRedactedAll;  // what was held, and everything after it, is withheld
    replaceContent(released_, result);
    action_.replace_tool_calls = 1;  // tool calls too: none goes out
    result.verdict = OUTRIGGER_VERDICT_REWRITE;
    reason_ = "PII detection failed (" + err + "): rest of the answer redacted";
    result.reason = str(reason_);
    return OUTRIGGER_RELEASE;
  }

  outrigger_status denyFailed(const std::string& err, outrigger_guardrail_result& result) {
    reason_ = "PII detection failed (" + err + "): denied";
    result.verdict = OUTRIGGER_VERDICT_DENY;
    result.reason = str(reason_);
    return OUTRIGGER_STOP;
  }

  outrigger_status deny(const char* side, const Outcome& outcome, outrigger_guardrail_result& result) {
    denials_.fetch_add(1, std::memory_order_relaxed);
    reason_ = std::string(side) + " holds " + outcome.deny_label + " (denied by the pii guardrail)";
    result.verdict = OUTRIGGER_VERDICT_DENY;
    result.reason = str(reason_);
    return OUTRIGGER_STOP;
  }

  void rewriteMessages(const outrigger_request_view& req, outrigger_guardrail_result& result) {
    messages_.assign(req.messages, req.messages + req.message_count);
    request_calls_.assign(messages_.size(), {});
    for (size_t i = 0; i < messages_.size(); ++i) {
      messages_[i].content = str(texts_[i]);
      if (i < request_args_.size() && !request_args_[i].empty()) {
        request_calls_[i] = withArguments(messages_[i].tool_calls, request_args_[i]);
        messages_[i].tool_calls = request_calls_[i].data();
      }
    }
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.messages = messages_.data();
    action_.message_count = messages_.size();
    result.verdict = OUTRIGGER_VERDICT_REWRITE;
    result.action = &action_;
  }

  // Each tool call's arguments with the actions applied, into `out`; empty when there are none.
  // A detection error is returned: the caller fails closed.
  std::string redactArguments(const outrigger_tool_call_view* calls, size_t count, const Redactor& redactor,
                              PlaceholderBook& book, bool restorable, std::vector<std::string>* out, Outcome* outcome) {
    out->assign(count, std::string());
    std::string err;
    // A value is scanned after the end of the key it sits under, as the same words would be
    // read in a message ("ssn: 536224781"): the key is the context that raises a bare 9-digit
    // SSN or an AWS secret, and lowers an order number that looks like a phone number. Only the
    // key's last kLookbehind bytes are read, all that context scoring looks at, so a long key
    // costs no more for each value under it. What the scan finds in the key alone is the key's
    // own scan's.
    std::string scanned;
    auto redactOne = [&](std::string_view key, std::string_view text, std::string* redacted) {
      size_t tail = key.size() > Detector::kLookbehind ? key.size() - Detector::kLookbehind : 0;
      while (tail < key.size() && (static_cast<uint8_t>(key[tail]) & 0xC0) == 0x80) ++tail;  // a whole character
      key.remove_prefix(tail);
      scanned.clear();
      if (!key.empty()) scanned.append(key).append(": ");
      const uint64_t from = scanned.size();
      scanned.append(text);
      std::vector<Detection> found;
      if (err = settings_.detector->detect(scanner_, scanned, &found); !err.empty()) return false;
      for (Detection& d : found) d.from = std::max(d.from, from);  // a match begun in the key: its value part
      found.erase(std::remove_if(found.begin(), found.end(), [](const Detection& d) { return d.to <= d.from; }), found.end());
      redactor.apply(scanned, 0, from, scanned.size(), found, book, restorable, redacted, outcome);
      return true;
    };
    for (size_t i = 0; i < count; ++i) {
      // JSON arguments string by string, decoded; anything else as text.
      const std::string_view arguments = view(calls[i].arguments);
      std::string& result = (*out)[i];
      JsonRewrite read = rewriteJsonStrings(arguments, redactOne, &result);
      if (read == JsonRewrite::kNotJson || read == JsonRewrite::kUnreadable) {
        redactOne({}, arguments, &result);
        // Arguments that are JSON RapidJSON cannot read, or that start as JSON and are not (cut
        // short at max_tokens, say), with something redacted: their text redacted could break an
        // escape ("\njane@..." loses its n) or leave a placeholder where a number was, so none
        // of it goes, as for a failed scan. Other text is redacted as text.
        if (err.empty() && result != arguments && (read == JsonRewrite::kUnreadable || looksLikeJson(arguments))) {
          result = "{}";
        }
      }
      if (!err.empty()) return err;
    }
    return {};
  }

  static bool looksLikeJson(std::string_view text) {
    size_t at = text.find_first_not_of(" \t\r\n");
    return at != std::string_view::npos && (text[at] == '{' || text[at] == '[');
  }

  // Arguments with the caller's values given back for their placeholders, escaped as JSON
  // strings when the arguments are JSON.
  static std::string restoreArguments(const std::string& arguments, const PlaceholderBook& book) {
    auto restore = [&](std::string_view, std::string_view text, std::string* out) {
      out->append(restorePlaceholders(text, book));
      return true;
    };
    std::string out;
    if (rewriteJsonStrings(arguments, restore, &out) != JsonRewrite::kDone) out = restorePlaceholders(arguments, book);
    return out;
  }

  // Adds a chunk's tool-call deltas to the calls the stream gathers; false past the bounds.
  static bool gatherCalls(const outrigger_chunk_view& chunk, RequestState* state) {
    for (size_t i = 0; chunk.tool_calls && i < chunk.tool_call_count; ++i) {
      const outrigger_tool_call_delta_view& d = chunk.tool_calls[i];
      state->call_bytes += d.id.size + d.type.size + d.name.size + d.arguments.size;
      if (d.index >= kMaxStreamedCalls || state->call_bytes > kMaxStreamedCallBytes) return false;
      if (d.index >= state->call_parts.size()) state->call_parts.resize(d.index + 1);
      auto& parts = state->call_parts[d.index];
      parts[0].append(view(d.id));
      parts[1].append(view(d.type));
      parts[2].append(view(d.name));
      parts[3].append(view(d.arguments));
      state->calls_seen = true;
    }
    return true;
  }

  static std::vector<outrigger_tool_call_view> gatheredCalls(const RequestState& state) {
    std::vector<outrigger_tool_call_view> out;
    for (const auto& p : state.call_parts) out.push_back({str(p[0]), str(p[1]), str(p[2]), str(p[3])});
    return out;
  }

  // Copies of `calls` whose arguments are `arguments` (which must outlive them).
  static std::vector<outrigger_tool_call_view> withArguments(const outrigger_tool_call_view* calls,
                                                             const std::vector<std::string>& arguments) {
    std::vector<outrigger_tool_call_view> out(calls, calls + arguments.size());
    for (size_t i = 0; i < out.size(); ++i) out[i].arguments = str(arguments[i]);
    return out;
  }

  void replaceContent(std::string_view content, outrigger_guardrail_result& result) {
    action_ = {};
    action_.hdr = OUTRIGGER_HEADER_INIT(outrigger_guardrail_action);
    action_.content = str(content);
    action_.replace_content = 1;
    result.action = &action_;
  }

  // "2 EMAIL, 1 CREDIT_CARD": types and counts, never values.
  std::string summary(const Outcome& outcome) const {
    std::string s;
    for (size_t i = 0; i < outcome.per_entity.size(); ++i) {
      if (outcome.per_entity[i] == 0) continue;
      if (!s.empty()) s += ", ";
      s += std::to_string(outcome.per_entity[i]) + " " + settings_.detector->entity(i).label;
    }
    return s;
  }

  void count(const Outcome& outcome, size_t side) {
    for (size_t i = 0; i < outcome.per_entity.size(); ++i) {
      if (outcome.per_entity[i]) detections_[i * 2 + side].fetch_add(outcome.per_entity[i], std::memory_order_relaxed);
    }
  }

  const PiiSettings settings_;
  Scanner scanner_;  // this instance's worker thread only
  const Redactor request_redactor_, response_redactor_;
  // What the host copies when a hook returns (one worker runs this instance: no locking).
  std::vector<std::string> texts_;
  std::vector<outrigger_message_view> messages_;
  std::vector<std::vector<std::string>> request_args_;  // per message, its tool calls' arguments
  std::vector<std::vector<outrigger_tool_call_view>> request_calls_;
  std::vector<std::string> answer_args_;
  std::vector<outrigger_tool_call_view> answer_calls_;
  std::string released_, reason_;
  outrigger_guardrail_action action_{};
  // Read by reportMetrics on the main thread.
  std::vector<std::atomic<uint64_t>> detections_;  // entity * 2 + side (0 request, 1 response)
  std::atomic<uint64_t> fail_closed_{0}, denials_{0};
};

}  // namespace

OUTRIGGER_PLUGIN("guardrail_pii", "1.0.0", outrigger::plugin::typeOf<PiiGuardrail>())
