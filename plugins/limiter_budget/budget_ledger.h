// What each key (a tenant, a user, ...) of one budget has spent in its window and holds reserved
// by requests in flight, for the whole process: admission reserves a request's worst case, its
// end settles the reservation to what it really cost. Spent amounts go to a SpendStore from a
// thread of the ledger's own; reservations live only in memory (a restart drops them, and the
// requests that held them with it).
//
// Thread: every method is [any]; one mutex guards the keys and is never held across the disk.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "budget_window.h"
#include "tenant_share.h"
#include "spend_store.h"

namespace outrigger::budget {

struct Amount {
  double usd = 0;
  double tokens = 0;
};

struct BudgetPolicy {
  std::string name;         // the budget's name (its instance's): in reasons, logs and stored rows
  std::string key_label;    // what a key is: "tenant", "user", "session", "tag virtual_key"
  WindowSpec window;
  double limit_usd = 0;     // 0: no USD limit
  double limit_tokens = 0;  // 0: no token limit
  double soft_percent = 80; // a warning once per key and window past this share of a limit; 0: none
  size_t max_keys = 100000;
};

struct Verdict {
  bool admitted = false;
  uint32_t retry_after_ms = 0;  // refused: when the window frees enough (or in-flight requests end)
  std::string reason;           // refused: names the budget, its key and when it resets
  bool never = false;           // refused: its worst case is over the whole limit, so no wait helps
};

// One key's state, for /metrics.
struct KeyFigures {
  std::string key;
  Amount spent;     // in the window
  Amount reserved;  // by requests in flight
  double used = 0;  // the larger share of a limit spent (0.8: 80%)
};

struct Settled {
  bool soft_crossed = false;  // this settlement crossed the soft threshold, first in the window
  Amount spent;               // the key's spending in its window afterwards
};

class Ledger {
 public:
  using Clock = std::function<int64_t()>;  // Unix milliseconds

  // Loads the spending still in the window from `store` (nullptr: memory only). Refuses (nullptr
  // and `error`) when the store cannot be read.
  static std::shared_ptr<Ledger> create(BudgetPolicy policy, std::unique_ptr<SpendStore> store, int64_t now_ms,
                                        std::string* error);
  ~Ledger();  // stops the flusher and writes what is left

  // A reload's new limits (the window and the store stay).
  // `stamp`: taken only if no newer instance's policy is in force (0: always).
  void setPolicy(const BudgetPolicy& policy, uint64_t stamp = 0);
  // setPolicy, unless an instance created as late or later set its own: each instance applies
  // its limits when it first admits, not when it is created, so a reload the daemon then rejects
  // (a later instance failed) leaves the running limits alone, and an older instance still
  // admitting requests that began before a reload (queued ones, model calls) never puts its
  // limits back. Stamps only grow.
  void usePolicy(uint64_t stamp, const BudgetPolicy& policy) {
    if (policy_stamp_.load(std::memory_order_acquire) >= stamp) return;  // the common case: no lock
    setPolicy(policy, stamp);
  }
  BudgetPolicy policy() const;

  // Admits and reserves `need` when the key's spending and reservations leave room for it.
  Verdict reserve(std::string_view key, const Amount& need, int64_t now_ms);
  // Returns a request's reservation and charges what it used to the key's current bucket.
  Settled settle(std::string_view key, const Amount& reserved, const Amount& used, int64_t now_ms);

  Amount spent(std::string_view key, int64_t now_ms) const;
  Amount reserved(std::string_view key) const;
  uint64_t softCrossings() const { return soft_crossings_.load(std::memory_order_relaxed); }
  uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }
  // The `n` keys that spent the largest share of a limit, most first; `*tracked` gets how many
  // keys the ledger holds.
  std::vector<KeyFigures> mostUsed(size_t n, int64_t now_ms, size_t* tracked) const;

  // Writes every changed bucket in one transaction; false (and `lastError`) when the store
  // failed, in which case the rows are written with the next flush.
  bool flush(int64_t now_ms) { return write(now_ms, true); }
  // Flushes every `every` on a thread of its own until destroyed.
  void startFlusher(std::chrono::milliseconds every, Clock clock);
  // The last store error not yet taken, for the plugin to log on a worker.
  std::string takeError();
  bool persistent() const { return store_ != nullptr; }

 private:
  struct Bucket {
    int64_t start = 0;
    Amount spent;
    bool dirty = false;
    bool warned = false;
  };
  struct KeyState {
    std::vector<Bucket> buckets;  // oldest first
    Amount reserved;
    // Requests holding a reservation: at 0 the reservation is exactly nothing, whatever the
    // rounding of the sums (0.1 + 0.2 - 0.1 - 0.2 is not 0), so the key may be forgotten.
    uint32_t reservations = 0;
  };

  Ledger(BudgetPolicy policy, std::unique_ptr<SpendStore> store) : policy_(std::move(policy)), store_(std::move(store)) {}
  Verdict reserveLocked(std::string_view key, const Amount& need, int64_t now_ms);
  // With mu_ held.
  KeyState* findOrAdd(std::string_view key, int64_t now_ms);
  Amount spentLocked(const KeyState& ks, int64_t now_ms) const;
  void prune(KeyState* ks, int64_t now_ms) const;
  bool idle(const KeyState& ks, int64_t now_ms) const;
  // When a key that is not idle may become so (Unix ms).
  int64_t idleFrom(const KeyState& ks, int64_t now_ms) const;
  int64_t waitMs(const KeyState& ks, double limit, double need, double Amount::*dim, int64_t now_ms) const;
  std::string refusal(std::string_view key, const char* unit, double spent, double reserved, double need,
                      double limit, int64_t reset_ms) const;
  int64_t pruneBefore(int64_t now_ms) const;
  bool write(int64_t now_ms, bool prune);
  // One row per (key, bucket), the last of each: rows carry whole amounts.
  static void latestPerBucket(std::vector<SpendRow>* rows);

  static constexpr int64_t kFullSweepEveryMs = 1000;

  mutable std::mutex mu_;
  BudgetPolicy policy_;
  std::map<std::string, KeyState, std::less<>> keys_;
  int64_t next_sweep_ms_ = 0;  // a full ledger looks for idle keys again from then
  outrigger::limiter::TenantShare share_;  // who may add keys past max_keys
  int64_t room_at_ms_ = 0;     // a full ledger's soonest room, as its last sweep saw (a refusal's retry)
  std::atomic<uint64_t> policy_stamp_{0};  // whose policy is in force (usePolicy); 0: the creator's
  std::atomic<uint64_t> soft_crossings_{0};
  std::atomic<uint64_t> refusals_{0};

  std::mutex flush_mu_;  // one flush at a time; never held with mu_ across the disk
  std::unique_ptr<SpendStore> store_;
  std::vector<SpendRow> unwritten_;  // rows a failed flush still owes the store (flush_mu_)
  std::string error_;                // guarded by mu_
  std::atomic<bool> has_error_{false};
  int64_t last_prune_ms_ = 0;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread flusher_;
};

}  // namespace outrigger::budget
