// The buckets of limiter.memory for the whole process: one table per instance name, kept in a
// process-wide registry, so every worker (the instance is shared by all of them) and every
// configuration after a reload draw on the same buckets; a reload cannot hand out a fresh minute.
//
// Thread: everything here is [any]. A record guards itself (a mutex per bucket, an atomic count);
// the table's shape takes a shared lock to find a record and an exclusive one to add one.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "resilience/rate_bucket.h"
#include "tenant_share.h"

namespace outrigger::limiter {

struct Rates {
  uint32_t rpm = 0;             // requests per minute; 0: none
  uint32_t tpm = 0;             // LLM tokens per minute; 0: none
  uint32_t max_concurrent = 0;  // requests in flight; 0: none
};

// What one key (a tenant, a user, ...) has left.
struct LimitRecord {
  resilience::RpmBucket requests;
  resilience::RpmBucket tokens;
  std::atomic<uint32_t> in_flight{0};
};

class LimitTable {
 public:
  explicit LimitTable(size_t max_keys) : max_keys_(max_keys) {}

  // The key's record, with `rates` applied, created on first use. When `max_keys` records are
  // tracked, idle ones make room (full buckets, nothing in flight, no request holding them: the
  // same as a new record, so forgetting them changes nothing); nullptr when none is idle.
  std::shared_ptr<LimitRecord> find(std::string_view key, const Rates& rates, uint64_t now_ns);
  // An instance's bound, applied when it admits (not when it is created, so a reload the daemon
  // then rejects changes nothing); a read when it is already in force.
  void useMaxKeys(size_t max_keys) {
    if (max_keys_.load(std::memory_order_relaxed) != max_keys) max_keys_.store(max_keys, std::memory_order_relaxed);
  }
  size_t size() const;

 private:
  void forgetIdle(const Rates& rates, uint64_t now_ns);  // with mu_ held exclusively

  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<LimitRecord>, std::less<>> records_;
  TenantShare share_;  // who may add keys past max_keys (with mu_ held)
  std::atomic<size_t> max_keys_;
};

// The table of instance `instance_name`: the same one for every instance of that name the
// process creates.
std::shared_ptr<LimitTable> tableFor(const std::string& instance_name, size_t max_keys);

}  // namespace outrigger::limiter
