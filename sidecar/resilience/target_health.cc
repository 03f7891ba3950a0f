#include "resilience/target_health.h"

namespace outrigger::resilience {

TargetHealth& HealthRegistry::target(const std::string& key) {
  TargetHealth* t = nullptr;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (auto it = targets_.find(key); it != targets_.end()) t = &it->second;
  }
  if (!t) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    t = &targets_.try_emplace(key).first->second;
  }
  return *t;
}

TargetHealth& HealthRegistry::configure(const std::string& key, const TargetPolicy& policy, uint32_t rpm, uint32_t tpm) {
  TargetHealth& t = target(key);
  t.breaker.setPolicy(policy.breaker);
  t.budget.setRatio(policy.retry_budget_ratio);
  t.rpm.setRate(rpm);
  t.tpm.setRate(tpm);
  return t;
}

std::vector<std::pair<std::string, CircuitBreaker::State>> HealthRegistry::breakerStates(uint64_t now_ns) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::pair<std::string, CircuitBreaker::State>> out;
  for (const auto& [key, t] : targets_) out.emplace_back(key, t.breaker.state(now_ns));
  return out;
}

std::vector<std::pair<std::string, UpstreamIdentity::Snapshot>> HealthRegistry::upstreamIdentities() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::pair<std::string, UpstreamIdentity::Snapshot>> out;
  for (const auto& [key, t] : targets_) out.emplace_back(key, t.identity.snapshot());
  return out;
}

std::vector<HealthRegistry::BreakerSnapshot> HealthRegistry::breakerSnapshots(uint64_t now_ns) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<BreakerSnapshot> out;
  for (const auto& [key, t] : targets_) {
    out.push_back({key, t.breaker.state(now_ns), t.breaker.openRemainingMs(now_ns), t.breaker.openedHere(),
                   t.breaker.timesOpened()});
  }
  return out;
}

bool HealthRegistry::openBreaker(std::string_view key, uint64_t now_ns, uint32_t open_ms) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = targets_.find(key);
  if (it == targets_.end()) return false;
  it->second.breaker.openFor(now_ns, open_ms);
  return true;
}

void HealthRegistry::addWaiters(CapacityWaiters* w) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  waiters_.push_back(w);
  subscribers_.store(waiters_.size(), std::memory_order_relaxed);
}

void HealthRegistry::removeWaiters(CapacityWaiters* w) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), w), waiters_.end());
  subscribers_.store(waiters_.size(), std::memory_order_relaxed);
}

void HealthRegistry::capacityFreed(const CapacityWaiters* from) {
  std::lock_guard<std::mutex> lock(waiters_mu_);
  for (CapacityWaiters* w : waiters_) {
    if (w != from && w->hasWaiters()) w->wake();
  }
}

}  // namespace outrigger::resilience
