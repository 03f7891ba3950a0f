#include "fleet_admission.h"

#include "lost_admissions.h"

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

FleetAdmission::~FleetAdmission() {
  if (!reserved) return;
  bool give_back_request = limits.rpm && !tally.attempted;
  std::shared_ptr<redis::RedisClient> client = redis.lock();
  auto unsettled = [counters = counters, spent = tally.spent_usd] {
    counters->settle_failures.fetch_add(1);
    counters->unsettled_micro_usd.fetch_add(uint64_t(std::llround(spent * 1e6)));
  };
  if (!client) {
    unsettled();
    return;
  }
  std::vector<std::string> args = {std::to_string(limits.rpm), std::to_string(limits.tpm),
                                   give_back_request ? "1" : "0", number(tally.owed() - tally.charged), id,
                                   number(limits.budget_usd > 0 ? tally.spent_usd : 0), std::to_string(budget_ttl_s)};
  client->eval(*settle_script, keys, args,
               [unsettled, lost = lost, release = LostAdmissions::releaseOf(*this)](const redis::RedisResult& r) {
                 if (r.ok()) return;
                 unsettled();
                 // The settle may not have run: a stall of a second would hold the slot for the lease.
                 if (auto l = lost.lock()) l->add(release);
               });
}

}  // namespace outrigger::limiter
