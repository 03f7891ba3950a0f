#include "resilience/target_health.h"

namespace outrigger::resilience {

TargetHealth& HealthRegistry::target(const std::string& key, const RoutePolicy& policy) {
  TargetHealth& t = targets_[key];
  t.breaker.setPolicy(policy.breaker);
  t.budget.setRatio(policy.retry.budget_ratio);
  return t;
}

RpmBucket* HealthRegistry::tenant(const std::string& route, const std::string& tenant, uint32_t per_minute) {
  std::string key = route + '\0' + tenant;
  auto it = tenants_.find(key);
  if (it == tenants_.end()) {
    if (tenants_.size() >= kMaxTenants) return nullptr;
    it = tenants_.emplace(std::move(key), RpmBucket{}).first;
  }
  it->second.setRate(per_minute);
  return &it->second;
}

}  // namespace outrigger::resilience
