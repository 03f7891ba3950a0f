#include "chain/span_attributes.h"

#include <memory>
#include <string>

#include "plugin/str_view.h"
#include "telemetry/attempt_attributes.h"

namespace outrigger::chain {
namespace {

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

// The facts of the attempt at `span`, made on first use; null past the end. Any of the three
// may come first: a provider that answers inside its start hook ends the attempt before the
// chain describes its start.
telemetry::AttemptFacts* factsOf(std::vector<telemetry::SpanRecord>* spans, size_t span) {
  if (span >= spans->size()) return nullptr;
  std::shared_ptr<telemetry::AttemptFacts>& facts = (*spans)[span].attempt;
  if (!facts) facts = std::make_shared<telemetry::AttemptFacts>();
  return facts.get();
}

}  // namespace

void describeAttemptStart(std::vector<telemetry::SpanRecord>* spans, size_t span, const Target& target,
                          std::string_view model, const outrigger_params_view* params) {
  telemetry::AttemptFacts* f = factsOf(spans, span);
  if (!f) return;
  f->started = true;
  f->provider = target.stage.instance->name();
  f->target = target.key;
  f->model = std::string(model);
  if (params) {
    f->params_present = params->present;
    f->temperature = params->temperature;
    f->top_p = params->top_p;
    f->max_tokens = params->max_tokens;
    f->seed = params->seed;
    std::string_view extra = sv(params->extra_json);
    if (extra.size() <= telemetry::AttemptFacts::kMaxKeptExtraJson) f->extra_json = std::string(extra);
    else telemetry::describeExtras(extra, &f->extra_attributes);
  }
  f->retry_reason = retryReason(*spans, span, target.key);
}

void describeAttemptEnd(std::vector<telemetry::SpanRecord>* spans, size_t span, const outrigger_response_view& r) {
  telemetry::AttemptFacts* f = factsOf(spans, span);
  if (!f) return;
  f->ended = true;
  f->code = r.code;
  f->response_model = std::string(sv(r.model));
  f->response_id = std::string(sv(r.response_id));
  f->system_fingerprint = std::string(sv(r.system_fingerprint));
  f->service_tier = std::string(sv(r.service_tier));
  f->refusal = (r.flags & OUTRIGGER_ANSWER_REFUSAL) != 0;
  f->usage.prompt_tokens = r.usage.prompt_tokens;
  f->usage.completion_tokens = r.usage.completion_tokens;
  f->usage.cached_tokens = r.usage.cached_tokens;
  f->usage.reasoning_tokens = r.usage.reasoning_tokens;
  f->usage.cache_write_tokens = r.cache_write_tokens;
  f->cost_usd = r.cost_usd;
}

void describeAttemptCost(std::vector<telemetry::SpanRecord>* spans, size_t span, std::string_view source,
                         std::string price_entry) {
  telemetry::AttemptFacts* f = factsOf(spans, span);
  if (!f) return;
  f->cost_source = source;
  f->cost_price = std::move(price_entry);
}

}  // namespace outrigger::chain
