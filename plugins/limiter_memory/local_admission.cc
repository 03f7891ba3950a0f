#include "local_admission.h"

#include <algorithm>

namespace outrigger::limiter {

namespace {

std::string overLimit(const char* what, const char* limit, uint32_t value, const char* unit) {
  return std::string(what) + " over its " + limit + " (" + std::to_string(value) + " " + unit + ")";
}

}  // namespace

void AttemptTally::add(const outrigger_settlement& s) {
  if (!s.target.size) return;  // no attempt: a cache hit or a degraded answer used no tokens
  attempted = true;
  uint64_t reported = uint64_t(s.usage.prompt_tokens) + s.usage.completion_tokens;
  if (s.reached_upstream) spent_usd += s.cost_usd;
  if (s.code == OUTRIGGER_CODE_OK) {
    answered = true;
    used += reported ? double(reported) : charged;  // no usage reported: the estimate stands
  } else if (s.code == OUTRIGGER_CODE_CANCELLED && s.reached_upstream) {
    cut_short = true;
    if (!reported && s.cost_usd <= 0) spent_usd += cut_short_usd;
  }
}

LocalAdmission::~LocalAdmission() {
  uint64_t now = host.nowNs();
  if (took_request && !tally.attempted) record->requests.charge(now, -1);
  double owed = tally.owed();
  if (owed != tally.charged) record->tokens.charge(now, owed - tally.charged);
  if (holds_slot) record->in_flight.fetch_sub(1);
}

bool admitLocally(plugin::Host host, LimitTable& table, const Rates& rates, std::string_view key, const char* what,
                  const outrigger_limit_estimate& estimate, std::unique_ptr<LocalAdmission>* admitted,
                  LocalRefusal* refusal) {
  uint64_t now = host.nowNs();
  std::shared_ptr<LimitRecord> record = table.find(key, rates, now);
  if (!record) {
    *refusal = {1000, std::string("too many ") + what + "s tracked at once"};
    return false;
  }
  // Built in place: a temporary admission would settle (as an empty one) when destroyed, and
  // this one gives back what it took if the request is refused further down.
  std::unique_ptr<LocalAdmission> a(new LocalAdmission{host, record, false, false, {}});
  if (rates.rpm) {
    if (!record->requests.take(now)) {
      *refusal = {std::max(record->requests.waitMs(now), 1u), overLimit(what, "request rate limit", rates.rpm, "per minute")};
      return false;
    }
    a->took_request = true;
  }
  // An empty prompt still costs the upstream a token or so.
  double need = double(std::max<uint64_t>(estimate.prompt_tokens, 1));
  if (uint32_t wait = rates.tpm ? record->tokens.waitMs(now, need) : 0) {
    *refusal = {wait, overLimit(what, "token rate limit", rates.tpm, "per minute")};
    return false;
  }
  if (rates.max_concurrent) {
    if (record->in_flight.fetch_add(1) >= rates.max_concurrent) {
      record->in_flight.fetch_sub(1);
      *refusal = {0, overLimit(what, "concurrency limit", rates.max_concurrent, "in flight")};
      return false;
    }
    a->holds_slot = true;
  }
  if (rates.tpm) {
    record->tokens.charge(now, need);
    a->tally.charged = need;
  }
  *admitted = std::move(a);
  return true;
}

}  // namespace outrigger::limiter
