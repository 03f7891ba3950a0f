// The tenant label of request, token and cost series ([metrics] tenant_label), with a cap: the
// first `max_tenants` tenants the process sees keep their name, every later one is "_other"
// (counted), so a fleet of tenants cannot grow the scrape or the daemon's memory without bound.
//
// One per process, shared by the workers: a tenant gets the same label on every worker, and a
// name once given stays for the process's life. Thread: every method is [any].
#pragma once

#include <atomic>
#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace outrigger::telemetry {

class TenantLabels {
 public:
  static constexpr std::string_view kOther = "_other";

  explicit TenantLabels(size_t max_tenants) : max_(max_tenants) {}

  // The label for `tenant`: its own name while there is room, else "_other". The view stays
  // valid as long as this object.
  std::string_view label(std::string_view tenant);

  size_t tenants() const;
  // Requests labelled "_other" because the cap was reached.
  uint64_t overflowed() const { return overflowed_.load(std::memory_order_relaxed); }

 private:
  const size_t max_;
  mutable std::shared_mutex mu_;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_set<std::string, Hash, std::equal_to<>> names_;  // node-based: views into it stay valid
  std::atomic<uint64_t> overflowed_{0};
};

}  // namespace outrigger::telemetry
