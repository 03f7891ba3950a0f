#include "limit_table.h"

#include <mutex>

namespace outrigger::limiter {

namespace {

void applyRates(LimitRecord* r, const Rates& rates) {
  r->requests.setRate(rates.rpm);
  r->tokens.setRate(rates.tpm);
}

}  // namespace

std::shared_ptr<LimitRecord> LimitTable::find(std::string_view key, const Rates& rates, uint64_t now_ns) {
  std::shared_ptr<LimitRecord> record;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (auto it = records_.find(key); it != records_.end()) record = it->second;
  }
  if (!record) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto it = records_.find(key);  // another thread may have added it meanwhile
    if (it == records_.end()) {
      const size_t max_keys = max_keys_.load(std::memory_order_relaxed);
      if (records_.size() >= max_keys) forgetIdle(rates, now_ns);
      if (records_.size() >= max_keys && !share_.mayExceed(key, records_.size(), max_keys)) return nullptr;
      it = records_.emplace(std::string(key), std::make_shared<LimitRecord>()).first;
      share_.added(key);
    }
    record = it->second;
  }
  applyRates(record.get(), rates);
  return record;
}

void LimitTable::forgetIdle(const Rates& rates, uint64_t now_ns) {
  for (auto it = records_.begin(); it != records_.end();) {
    LimitRecord& r = *it->second;
    bool idle = it->second.use_count() == 1 && r.in_flight.load() == 0 &&
                r.requests.waitMs(now_ns, rates.rpm) == 0 && r.tokens.waitMs(now_ns, rates.tpm) == 0;
    if (!idle) {
      ++it;
      continue;
    }
    share_.removed(it->first);
    it = records_.erase(it);
  }
}

size_t LimitTable::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return records_.size();
}

std::shared_ptr<LimitTable> tableFor(const std::string& instance_name, size_t max_keys) {
  static std::mutex mu;
  static auto* tables = new std::map<std::string, std::shared_ptr<LimitTable>>();  // never freed: outlives every instance
  std::lock_guard<std::mutex> lock(mu);
  auto& t = (*tables)[instance_name];
  if (!t) t = std::make_shared<LimitTable>(max_keys);  // an existing one takes it at admit (useMaxKeys)
  return t;
}

}  // namespace outrigger::limiter
