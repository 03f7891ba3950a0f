#include "telemetry/attempt_attributes.h"

#include <cstdio>
#include <string>

#include <outrigger/plugin.h>
#include <rapidjson/document.h>
#include <rapidjson/writer.h>

#include "bounded_json.h"
#include "json_buffer.h"
#include "common/status.h"
#include "telemetry/span_trace.h"

namespace outrigger::telemetry {
namespace {

// A scalar JSON value as an attribute's text ("0.5", "true", "priority"); empty for anything else.
std::string scalarText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (!v.IsNumber() && !v.IsBool()) return {};
  json::JsonBuffer buf;
  rapidjson::Writer<json::JsonBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.view());
}

// gen_ai.operation.name comes from the span's stage (chat or embeddings: span_trace.cc).
void describeStart(const AttemptFacts& f, Attributes* a) {
  setAttribute(a, "gen_ai.provider.name", std::string(f.provider));
  setAttribute(a, "gen_ai.request.model", f.model);
  setAttribute(a, "outrigger.target", std::string(f.target));
  char number[32];
  if (f.params_present & OUTRIGGER_PARAM_TEMPERATURE) {
    std::snprintf(number, sizeof number, "%.7g", double(f.temperature));  // a float: 7 digits
    setAttribute(a, "gen_ai.request.temperature", number);
  }
  if (f.params_present & OUTRIGGER_PARAM_TOP_P) {
    std::snprintf(number, sizeof number, "%.7g", double(f.top_p));
    setAttribute(a, "gen_ai.request.top_p", number);
  }
  if (f.params_present & OUTRIGGER_PARAM_MAX_TOKENS) {
    setAttribute(a, "gen_ai.request.max_tokens", std::to_string(f.max_tokens));
  }
  if (f.params_present & OUTRIGGER_PARAM_SEED) setAttribute(a, "gen_ai.request.seed", std::to_string(f.seed));
  describeExtras(f.extra_json, a);
  for (const auto& [key, value] : f.extra_attributes) setAttributeOfStaticKey(a, key, value);
  if (!f.retry_reason.empty()) setAttribute(a, "outrigger.retry_reason", f.retry_reason);
}

void describeEnd(const AttemptFacts& f, Attributes* a) {
  Code code = f.code >= 0 && f.code <= 16 ? static_cast<Code>(f.code) : Code::kUnknown;
  setAttribute(a, "outrigger.status", std::string(codeName(code)));
  if (code != Code::kOk) setAttribute(a, "error.type", std::string(codeName(code)));
  if (!f.response_model.empty()) setAttribute(a, "gen_ai.response.model", f.response_model);
  if (!f.response_id.empty()) setAttribute(a, "gen_ai.response.id", f.response_id);
  if (!f.system_fingerprint.empty()) setAttribute(a, "openai.response.system_fingerprint", f.system_fingerprint);
  if (!f.service_tier.empty()) setAttribute(a, "openai.response.service_tier", f.service_tier);
  if (f.refusal) setAttribute(a, "outrigger.refusal", "true");
  setAttribute(a, "gen_ai.usage.input_tokens", std::to_string(f.usage.prompt_tokens));
  setAttribute(a, "gen_ai.usage.output_tokens", std::to_string(f.usage.completion_tokens));
  if (f.usage.cached_tokens) {
    setAttribute(a, "gen_ai.usage.cache_read.input_tokens", std::to_string(f.usage.cached_tokens));
  }
  if (f.usage.cache_write_tokens) {
    setAttribute(a, "gen_ai.usage.cache_creation.input_tokens", std::to_string(f.usage.cache_write_tokens));
  }
  if (f.usage.reasoning_tokens) {
    setAttribute(a, "gen_ai.usage.reasoning.output_tokens", std::to_string(f.usage.reasoning_tokens));
  }
  char cost[32];
  std::snprintf(cost, sizeof cost, "%.9g", f.cost_usd);
  setAttribute(a, "outrigger.cost_usd", cost);
}

}  // namespace

// Settings a caller sent that travel to the provider in extra_json, so that a record shows what
// the upstream was asked for. Settings only: fields that may hold content (prediction, metadata
// values, logit_bias maps) are named in the field list, never copied. OpenTelemetry names where
// they exist.
void describeExtras(std::string_view extra_json, Attributes* a) {
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

void describeAttempt(const AttemptFacts& f, Attributes* a) {
  if (f.started) describeStart(f, a);
  if (!f.cost_source.empty()) setAttribute(a, "outrigger.cost.source", std::string(f.cost_source));
  if (!f.cost_price.empty()) setAttribute(a, "outrigger.cost.price", f.cost_price);
  if (f.ended) describeEnd(f, a);
}

}  // namespace outrigger::telemetry
