#include "chain/span_attributes.h"

#include <cstdio>
#include <string>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "bounded_json.h"
#include "common/status.h"
#include "telemetry/span_trace.h"

namespace outrigger::chain {
namespace {

using telemetry::setAttribute;

// The planner's note for the decision that started an attempt on `key`: the latest resilience
// span before the attempt that names the target. Only a second try has a reason to record.
std::string retryReason(const std::vector<telemetry::SpanRecord>& spans, size_t span, const std::string& key) {
  for (size_t i = span; i-- > 0;) {
    const telemetry::SpanRecord& s = spans[i];
    if (s.stage != "resilience" || s.instance != key) continue;
    bool second_try = s.outcome.rfind("retry", 0) == 0 || s.outcome.rfind("fallback", 0) == 0 ||
                      s.outcome.rfind("hedge", 0) == 0;
    return second_try ? s.outcome : std::string();
  }
  return {};
}

std::string_view text(outrigger_str s) { return {s.data ? s.data : "", s.size}; }

// A scalar JSON value as an attribute's text ("0.5", "true", "priority"); empty for anything else.
std::string scalarText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (!v.IsNumber() && !v.IsBool()) return {};
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// Settings a caller sent that travel to the provider in extra_json, recorded on the attempt's
// span so that a record shows what the upstream was asked for. Settings only: fields that may
// hold content (prediction, metadata values, logit_bias maps) are named in the field list, never
// copied. OpenTelemetry names where they exist.
void describeExtras(telemetry::Attributes* a, std::string_view extra_json) {
  rapidjson::Document d;
  if (extra_json.empty() || !json::parse(extra_json, &d) || !d.IsObject()) return;
  auto scalar = [&](const char* key) -> std::string {
    auto it = d.FindMember(key);
    return it == d.MemberEnd() ? std::string() : scalarText(it->value);
  };
  if (std::string v = scalar("service_tier"); !v.empty()) setAttribute(a, "openai.request.service_tier", v);
  if (std::string v = scalar("frequency_penalty"); !v.empty()) setAttribute(a, "gen_ai.request.frequency_penalty", v);
  if (std::string v = scalar("presence_penalty"); !v.empty()) setAttribute(a, "gen_ai.request.presence_penalty", v);
  if (std::string v = scalar("n"); !v.empty()) setAttribute(a, "gen_ai.request.choice.count", v);
  if (std::string v = scalar("top_k"); !v.empty()) setAttribute(a, "gen_ai.request.top_k", v);
  if (std::string v = scalar("reasoning_effort"); !v.empty()) setAttribute(a, "outrigger.request.reasoning_effort", v);
  if (std::string v = scalar("logprobs"); !v.empty()) setAttribute(a, "outrigger.request.logprobs", v);
  if (std::string v = scalar("top_logprobs"); !v.empty()) setAttribute(a, "outrigger.request.top_logprobs", v);
  if (std::string v = scalar("store"); !v.empty()) setAttribute(a, "outrigger.request.store", v);
  if (std::string v = scalar("parallel_tool_calls"); !v.empty()) {
    setAttribute(a, "outrigger.request.parallel_tool_calls", v);
  }
  // Every field's name, so nothing the caller sent is invisible in the record (bounded).
  constexpr size_t kMaxNamesBytes = 512;
  std::string names;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    std::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (names.size() + name.size() + 1 > kMaxNamesBytes) break;
    if (!names.empty()) names += ',';
    names.append(name);
  }
  setAttribute(a, "outrigger.request.extra_fields", std::move(names));
}

}  // namespace

void describeAttemptStart(std::vector<telemetry::SpanRecord>* spans, size_t span, const Target& target,
                          std::string_view model, const outrigger_params_view* params) {
  if (span >= spans->size()) return;
  telemetry::Attributes& a = (*spans)[span].attributes;
  setAttribute(&a, "gen_ai.operation.name", "chat");
  setAttribute(&a, "gen_ai.provider.name", target.stage.instance->name());
  setAttribute(&a, "gen_ai.request.model", std::string(model));
  setAttribute(&a, "outrigger.target", target.key);
  if (params) {
    char number[32];
    if (params->present & OUTRIGGER_PARAM_TEMPERATURE) {
      std::snprintf(number, sizeof number, "%.7g", double(params->temperature));  // a float: 7 digits
      setAttribute(&a, "gen_ai.request.temperature", number);
    }
    if (params->present & OUTRIGGER_PARAM_TOP_P) {
      std::snprintf(number, sizeof number, "%.7g", double(params->top_p));
      setAttribute(&a, "gen_ai.request.top_p", number);
    }
    if (params->present & OUTRIGGER_PARAM_MAX_TOKENS) {
      setAttribute(&a, "gen_ai.request.max_tokens", std::to_string(params->max_tokens));
    }
    if (params->present & OUTRIGGER_PARAM_SEED) setAttribute(&a, "gen_ai.request.seed", std::to_string(params->seed));
    describeExtras(&a, text(params->extra_json));
  }
  if (std::string why = retryReason(*spans, span, target.key); !why.empty()) {
    setAttribute(&a, "outrigger.retry_reason", std::move(why));
  }
}

void describeAttemptEnd(std::vector<telemetry::SpanRecord>* spans, size_t span, const outrigger_response_view& r) {
  if (span >= spans->size()) return;
  telemetry::Attributes& a = (*spans)[span].attributes;
  Code code = r.code >= 0 && r.code <= 16 ? static_cast<Code>(r.code) : Code::kUnknown;
  setAttribute(&a, "outrigger.status", std::string(codeName(code)));
  if (code != Code::kOk) setAttribute(&a, "error.type", std::string(codeName(code)));
  if (r.model.size) setAttribute(&a, "gen_ai.response.model", std::string(text(r.model)));
  if (r.response_id.size) setAttribute(&a, "gen_ai.response.id", std::string(text(r.response_id)));
  if (r.system_fingerprint.size) {
    setAttribute(&a, "openai.response.system_fingerprint", std::string(text(r.system_fingerprint)));
  }
  if (r.service_tier.size) setAttribute(&a, "openai.response.service_tier", std::string(text(r.service_tier)));
  if (r.flags & OUTRIGGER_ANSWER_REFUSAL) setAttribute(&a, "outrigger.refusal", "true");
  setAttribute(&a, "gen_ai.usage.input_tokens", std::to_string(r.usage.prompt_tokens));
  setAttribute(&a, "gen_ai.usage.output_tokens", std::to_string(r.usage.completion_tokens));
  if (r.usage.cached_tokens) {
    setAttribute(&a, "gen_ai.usage.cache_read.input_tokens", std::to_string(r.usage.cached_tokens));
  }
  if (r.cache_write_tokens) {
    setAttribute(&a, "gen_ai.usage.cache_creation.input_tokens", std::to_string(r.cache_write_tokens));
  }
  if (r.usage.reasoning_tokens) {
    setAttribute(&a, "gen_ai.usage.reasoning.output_tokens", std::to_string(r.usage.reasoning_tokens));
  }
  char cost[32];
  std::snprintf(cost, sizeof cost, "%.9g", r.cost_usd);
  setAttribute(&a, "outrigger.cost_usd", cost);
}

}  // namespace outrigger::chain
