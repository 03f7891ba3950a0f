// Circuit state shared by a fleet through Redis (limiter.redis `share_breakers`). Every poll, on
// the instance's loop: a breaker this process opened with its own failures is published once per
// opening, as "open until" on Redis' clock; and every breaker open elsewhere is opened here for
// the time it has left (ABI 1.2 `breakers` / `breaker_open`). A breaker opened from the fleet is
// never published again, so the fleet cannot keep one open by echoing it; when its time is up
// each sidecar probes the target itself.
#pragma once

#include <outrigger/plugin.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "redis_client.h"

namespace outrigger::limiter {

struct BreakerShareCounters {
  std::atomic<uint64_t> published{0}, applied{0};
};

class BreakerShare {
 public:
  BreakerShare(plugin::Host host, std::shared_ptr<redis::RedisClient> redis, uint32_t poll_ms,
               std::shared_ptr<BreakerShareCounters> counters);
  ~BreakerShare();
  // [any] Starts polling once the instance's loop is bound.
  void start();

 private:
  void poll();

  plugin::Host host_;
  std::shared_ptr<redis::RedisClient> redis_;
  uint32_t poll_ms_;
  std::shared_ptr<BreakerShareCounters> counters_;
  std::string key_;
  std::map<std::string, uint64_t> published_;  // target -> the opening published (times_opened)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  uint64_t timer_id_ = 0;
};

}  // namespace outrigger::limiter
