#include "telemetry/tenant_labels.h"

#include <mutex>

namespace outrigger::telemetry {

std::string_view TenantLabels::label(std::string_view tenant) {
  {
    std::shared_lock<std::shared_mutex> read(mu_);
    if (auto it = names_.find(tenant); it != names_.end()) return *it;
    if (names_.size() >= max_) {
      overflowed_.fetch_add(1, std::memory_order_relaxed);
      return kOther;
    }
  }
  std::unique_lock<std::shared_mutex> write(mu_);
  if (auto it = names_.find(tenant); it != names_.end()) return *it;
  if (names_.size() >= max_) {
    overflowed_.fetch_add(1, std::memory_order_relaxed);
    return kOther;
  }
  return *names_.emplace(tenant).first;
}

size_t TenantLabels::tenants() const {
  std::shared_lock<std::shared_mutex> read(mu_);
  return names_.size();
}

}  // namespace outrigger::telemetry
