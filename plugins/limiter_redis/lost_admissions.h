// Admissions whose answer from Redis did not come in time. Redis may still have run the script, and then holds a slot and a budget
// reservation for the whole lease (ten minutes by default) that nobody will settle: a stall of
// a second would refuse a tenant for ten. Each is released by its id with the settle script,
// which is idempotent, retried every second until Redis takes it or the lease has passed; the
// release leaves a tombstone for the lease, so an admission that runs after its release
// refuses itself instead of reserving.
#pragma once

#include <outrigger/plugin.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "fleet_admission.h"
#include "redis_client.h"

namespace outrigger::limiter {

class LostAdmissions {
 public:
  LostAdmissions(plugin::Host host, std::shared_ptr<redis::RedisClient> redis, const redis::RedisScript& settle,
                 std::shared_ptr<FleetCounters> counters, uint32_t lease_ms);
  ~LostAdmissions();

  // What releases an admission by its id.
  struct Release {
    std::vector<std::string> keys;
    FleetLimits limits;
    std::string id;
    int64_t budget_ttl_s = 0;
  };
  static Release releaseOf(const FleetAdmission& a) { return {a.keys, a.limits, a.id, a.budget_ttl_s}; }

  // [instance loop] Releases the admission Redis may hold, until it is released or expired: one
  // whose admit got no answer, or one whose settle got none (its slot and reservation would
  // otherwise be held for the lease; its spending is counted unsettled).
  void add(const Release& release);
  size_t pending() const { return lost_.size(); }

  static constexpr size_t kMaxPending = 4096;  // beyond, the oldest is left to its lease (counted)

 private:
  struct Lost {
    std::vector<std::string> keys;
    FleetLimits limits;
    std::string id;
    int64_t budget_ttl_s = 0;
    uint64_t expires_ns = 0;
    bool in_flight = false;
  };
  void pump();
  void retryLater();

  plugin::Host host_;
  std::shared_ptr<redis::RedisClient> redis_;
  const redis::RedisScript& settle_;
  std::shared_ptr<FleetCounters> counters_;
  uint32_t lease_ms_;
  std::deque<std::shared_ptr<Lost>> lost_;
  bool retry_armed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace outrigger::limiter
