#include "fleet_admission.h"

#include <cmath>
#include <cstdio>

namespace outrigger::limiter {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9f", v);
  return buf;
}

}  // namespace

void FleetAdmission::settle(const outrigger_settlement& s) {
  if (s.target.size) attempted = true;
  if (s.reached_upstream) spent_usd += s.cost_usd;
  if (s.code == OUTRIGGER_CODE_OK) {
    answered = true;
    uint64_t reported = uint64_t(s.usage.prompt_tokens) + s.usage.completion_tokens;
    used_tokens += reported ? double(reported) : charged_tokens;  // no usage reported: the estimate stands
  } else if (s.code == OUTRIGGER_CODE_CANCELLED && s.reached_upstream) {
    cut_short = true;
  }
}

// The tokens owed follow limiter.memory: what answered attempts used, the reservation when an
// attempt was cut short in flight, nothing when every attempt failed or none started.
FleetAdmission::~FleetAdmission() {
  if (!reserved) return;
  double owed = answered ? used_tokens : cut_short ? charged_tokens : 0;
  bool give_back_request = limits.rpm && !attempted;
  std::shared_ptr<redis::RedisClient> client = redis.lock();
  auto unsettled = [counters = counters, spent = spent_usd] {
    counters->settle_failures.fetch_add(1);
    counters->unsettled_micro_usd.fetch_add(uint64_t(std::llround(spent * 1e6)));
  };
  if (!client) {
    unsettled();
    return;
  }
  std::vector<std::string> args = {std::to_string(limits.rpm), std::to_string(limits.tpm),
                                   give_back_request ? "1" : "0", number(owed - charged_tokens), id,
                                   number(limits.budget_usd > 0 ? spent_usd : 0), std::to_string(budget_ttl_s)};
  client->eval(*settle_script, keys, args, [unsettled](const redis::RedisResult& r) {
    if (!r.ok()) unsettled();
  });
}

}  // namespace outrigger::limiter
