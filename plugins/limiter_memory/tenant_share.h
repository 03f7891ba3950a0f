// Who may still add a key to a full key table (limiter.memory's, limiter.budget's): a tenant
// holding less than an equal share of the bound (the bound over the tenants holding keys), up to
// twice the bound in all. The table is one for every tenant: without this, one tenant's callers
// naming new users or sessions would fill it, and every other tenant's new keys be refused.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace outrigger::limiter {

// The tenant a key belongs to: what comes before the '/' of tenantScoped's "tenant/id" (the
// tenant's own '/' is escaped there), or the whole key when it is a tenant's own.
inline std::string_view tenantOfKey(std::string_view key) { return key.substr(0, key.find('/')); }

class TenantShare {
 public:
  void added(std::string_view key) { ++counts_[std::string(tenantOfKey(key))]; }
  void removed(std::string_view key) {
    auto it = counts_.find(std::string(tenantOfKey(key)));
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  }
  // Whether `key` may be added to a table holding `size` keys, past its bound `max_keys`.
  bool mayExceed(std::string_view key, size_t size, size_t max_keys) const {
    if (size >= 2 * max_keys) return false;
    auto it = counts_.find(std::string(tenantOfKey(key)));
    size_t held = it == counts_.end() ? 0 : it->second;
    size_t tenants = counts_.size() + (held == 0 ? 1 : 0);
    return held < max_keys / tenants;
  }

 private:
  std::unordered_map<std::string, size_t> counts_;  // keys held, by tenant
};

}  // namespace outrigger::limiter
