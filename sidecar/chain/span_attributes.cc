#include "chain/span_attributes.h"

#include <cstdio>
#include <string>

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
