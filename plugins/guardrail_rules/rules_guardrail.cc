// guardrail.rules: size limits, deny/flag regular expressions (RE2, linear time, one pass per
// message for all patterns) and an empty-output check.
#include <outrigger/plugin.hpp>

#include <re2/re2.h>
#include <re2/set.h>
#include <rapidjson/document.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bounded_json.h"

namespace {

using namespace outrigger::plugin;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_input_bytes": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "total bytes of all message contents, their tool calls' names and arguments included"},
    "max_messages": {"type": "integer", "minimum": 1, "maximum": 4294967295},
    "deny_patterns": {"type": "array", "items": {"type": "string"}, "description": "RE2 patterns; a match denies"},
    "flag_patterns": {"type": "array", "items": {"type": "string"}, "description": "RE2 patterns; a match flags"},
    "scan_output": {"type": "boolean", "description": "also apply deny/flag patterns to the answer and its chunks"},
    "deny_empty_output": {"type": "boolean", "description": "deny an answer with no text and no tool calls"}
  }
})json";

class PatternSet {
 public:
  void build(const rapidjson::Value& patterns, const char* what) {
    if (patterns.Empty()) return;
    RE2::Options opt;
    opt.set_log_errors(false);
    set_ = std::make_unique<RE2::Set>(opt, RE2::UNANCHORED);
    for (const auto& p : patterns.GetArray()) {
      std::string err;
      if (set_->Add(p.GetString(), &err) < 0) {
        throw std::runtime_error(std::string(what) + " pattern '" + p.GetString() + "' is invalid: " + err);
      }
      sources_.emplace_back(p.GetString());
    }
    if (!set_->Compile()) throw std::runtime_error(std::string(what) + " patterns do not compile (too large?)");
  }
  // The first matching pattern, or nullptr; `*failed` when RE2 could not tell (its DFA ran out of
  // memory: RE2::Set has no slower fallback), which a deny list must not read as no match.
  const std::string* match(std::string_view text, bool* failed) const {
    *failed = false;
    if (!set_) return nullptr;
    std::vector<int> hits;
    RE2::Set::ErrorInfo info{};
    if (!set_->Match(re2::StringPiece(text.data(), text.size()), &hits, &info)) {
      *failed = info.kind != RE2::Set::kNoError;
      return nullptr;
    }
    return hits.empty() ? nullptr : &sources_[static_cast<size_t>(hits.front())];
  }

 private:
  std::unique_ptr<RE2::Set> set_;
  std::vector<std::string> sources_;
};

class RulesGuardrail final : public Guardrail {
 public:
  static constexpr const char* kName = "rules";
  static constexpr const char* kDescription = "Input size and message limits, RE2 deny/flag patterns, empty-output check";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  RulesGuardrail(Host host, std::string_view name, std::string_view config) : Guardrail(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    if (d.HasMember("max_input_bytes")) max_bytes_ = d["max_input_bytes"].GetUint64();
    if (d.HasMember("max_messages")) max_messages_ = d["max_messages"].GetUint64();
    if (d.HasMember("deny_patterns")) deny_.build(d["deny_patterns"], "deny");
    if (d.HasMember("flag_patterns")) flag_.build(d["flag_patterns"], "flag");
    scan_output_ = d.HasMember("scan_output") && d["scan_output"].GetBool();
    deny_empty_ = d.HasMember("deny_empty_output") && d["deny_empty_output"].GetBool();
  }

  outrigger_status onRequest(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    if (max_messages_ && req.message_count > max_messages_) {
      reason_ = "too many messages: " + std::to_string(req.message_count) + " > " + std::to_string(max_messages_);
      return deny(result);
    }
    uint64_t total = 0;
    for (size_t i = 0; i < req.message_count; ++i) {
      const outrigger_message_view& m = req.messages[i];
      total += m.content.size;
      for (size_t k = 0; m.tool_calls && k < m.tool_call_count; ++k) total += m.tool_calls[k].name.size + m.tool_calls[k].arguments.size;
    }
    if (max_bytes_ && total > max_bytes_) {
      reason_ = "input too large: " + std::to_string(total) + " bytes > " + std::to_string(max_bytes_);
      return deny(result);
    }
    for (size_t i = 0; i < req.message_count; ++i) {
      const outrigger_message_view& m = req.messages[i];
      const std::string where = "message " + std::to_string(i);
      if (outrigger_status st = scan(view(m.content), where, result); st != OUTRIGGER_CONTINUE) return st;
      // An assistant turn's tool calls are text the model will read again, as its messages are.
      if (outrigger_status st = scanCalls(m.tool_calls, m.tool_calls ? m.tool_call_count : 0, where, result);
          st != OUTRIGGER_CONTINUE) {
        return st;
      }
    }
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status onChunk(const outrigger_request_view&, const outrigger_chunk_view& chunk,
                           outrigger_guardrail_result& result) override {
    if (!scan_output_) return OUTRIGGER_CONTINUE;
    if (outrigger_status st = scan(view(chunk.delta), "answer chunk", result); st != OUTRIGGER_CONTINUE) return st;
    for (size_t k = 0; chunk.tool_calls && k < chunk.tool_call_count; ++k) {
      const outrigger_tool_call_delta_view& d = chunk.tool_calls[k];
      for (outrigger_str piece : {d.name, d.arguments}) {
        if (outrigger_status st = scan(view(piece), "answer chunk's tool call", result); st != OUTRIGGER_CONTINUE) return st;
      }
    }
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status onResponse(const outrigger_request_view&, const outrigger_response_view& resp,
                              outrigger_guardrail_result& result) override {
    if (deny_empty_ && resp.content.size == 0 && resp.tool_call_count == 0) {
      reason_ = "empty output";
      return deny(result);
    }
    if (!scan_output_) return OUTRIGGER_CONTINUE;
    if (outrigger_status st = scan(view(resp.content), "answer", result); st != OUTRIGGER_CONTINUE) return st;
    return scanCalls(resp.tool_calls, resp.tool_calls ? resp.tool_call_count : 0, "answer", result);
  }

 private:
  outrigger_status deny(outrigger_guardrail_result& result) {
    result.verdict = OUTRIGGER_VERDICT_DENY;
    result.reason = str(reason_);
    return OUTRIGGER_STOP;
  }

  // Each call's name and arguments, as `where`'s tool call N.
  outrigger_status scanCalls(const outrigger_tool_call_view* calls, size_t count, const std::string& where,
                             outrigger_guardrail_result& result) {
    for (size_t k = 0; k < count; ++k) {
      const std::string at = where + "'s tool call " + std::to_string(k);
      if (outrigger_status st = scan(view(calls[k].name), at, result); st != OUTRIGGER_CONTINUE) return st;
      if (outrigger_status st = scan(view(calls[k].arguments), at, result); st != OUTRIGGER_CONTINUE) return st;
    }
    return OUTRIGGER_CONTINUE;
  }

  outrigger_status scan(std::string_view text, const std::string& where, outrigger_guardrail_result& result) {
    bool failed = false;
    if (const std::string* p = deny_.match(text, &failed)) {
      reason_ = where + " matches deny pattern " + *p;
      return deny(result);
    }
    if (failed) {
      reason_ = where + " could not be checked against the deny patterns (the matcher ran out of memory)";
      return deny(result);
    }
    if (const std::string* p = flag_.match(text, &failed)) {
      reason_ = where + " matches flag pattern " + *p;
      result.verdict = OUTRIGGER_VERDICT_FLAG;
      result.reason = str(reason_);
    }
    return OUTRIGGER_CONTINUE;
  }

  uint64_t max_bytes_ = 0;
  uint64_t max_messages_ = 0;
  PatternSet deny_, flag_;
  bool scan_output_ = false;
  bool deny_empty_ = false;
  std::string reason_;  // backs result.reason until the host copies it
};

}  // namespace

OUTRIGGER_PLUGIN("guardrail_rules", "1.0.0", outrigger::plugin::typeOf<RulesGuardrail>())
