#include "resilience/target_health.h"

namespace outrigger::resilience {

TargetHealth& HealthRegistry::target(const std::string& key, const RoutePolicy& policy) {
  TargetHealth& t = targets_[key];
  t.breaker.setPolicy(policy.breaker);
  t.budget.setRatio(policy.retry.budget_ratio);
  return t;
}

RpmBucket* HealthRegistry::tenant(const std::string& route, const std::string& tenant, uint32_t per_minute) {
  return bucket(route + '\0' + "requests" + '\0' + tenant, per_minute);
}

RpmBucket* HealthRegistry::tenantTokens(const std::string& route, const std::string& tenant, uint32_t per_minute) {
  return bucket(route + '\0' + "tokens" + '\0' + tenant, per_minute);
}

RpmBucket* HealthRegistry::bucket(std::string key, uint32_t per_minute) {
  auto it = tenants_.find(key);
  if (it == tenants_.end()) {
    if (tenants_.size() >= kMaxTenants) return nullptr;
    it = tenants_.emplace(std::move(key), RpmBucket{}).first;
  }
  it->second.setRate(per_minute);
  return &it->second;
}

}  // namespace outrigger::resilience
