// What a request admitted by limiter.redis holds until it ends, and what it gives back then: the
// host destroys it with the request state, and the destructor sends the settle script. If Redis
// does not take it, the spending is counted as unsettled and the slot and the reservation are
// released by id (lost_admissions.h), not left to the lease.
#pragma once

#include <outrigger/plugin.hpp>

#include <memory>
#include <string>
#include <vector>

#include "local_admission.h"
#include "redis_client.h"

namespace outrigger::limiter {

struct FleetCounters {
  std::atomic<uint64_t> admitted{0}, refused_rpm{0}, refused_tpm{0}, refused_concurrency{0}, refused_budget{0};
  std::atomic<uint64_t> redis_failed_closed{0}, local_fallbacks{0}, settle_failures{0};
  std::atomic<uint64_t> unsettled_micro_usd{0};
  // Admissions whose answer was lost, released by id (lost_admissions.h).
  std::atomic<uint64_t> lost_admissions{0}, lost_released{0}, lost_releases_dropped{0};
};

struct FleetLimits {
  uint32_t rpm = 0, tpm = 0, max_concurrent = 0;
  double budget_usd = 0;
};

class LostAdmissions;

struct FleetAdmission {
  std::weak_ptr<redis::RedisClient> redis;
  std::weak_ptr<LostAdmissions> lost;  // where a settle Redis did not take is released by id
  std::shared_ptr<FleetCounters> counters;
  const redis::RedisScript* settle_script = nullptr;
  std::vector<std::string> keys;  // the script keys: rate, slots, budget, leases, tombstone
  FleetLimits limits;
  std::string id;
  int64_t budget_ttl_s = 0;
  AttemptTally tally;  // tally.charged: the tokens reserved
  // False until Redis admitted it (and when Redis' answer is unknown): nothing to give back.
  bool reserved = false;

  ~FleetAdmission();
};

// A request's state for limiter.redis: admitted by Redis, or by the local fallback.
struct AdmissionState {
  std::unique_ptr<FleetAdmission> fleet;
  std::unique_ptr<LocalAdmission> local;
  void settle(const outrigger_settlement& s) {
    if (fleet) fleet->tally.add(s);
    if (local) local->tally.add(s);
  }
};

}  // namespace outrigger::limiter
