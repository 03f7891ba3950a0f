// limiter.loop_guard's record of what each session (or user, or tenant) did within a rolling
// window: its calls, the tokens and USD its finished requests used, and a hash of each request
// (its model and messages), so a client stuck in a loop is stopped by a rule: too many calls,
// too many tokens, too many USD, or the same request too many times.
//
// Thread: every method is [any]; one mutex guards the table. Times are monotonic milliseconds.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace outrigger::loop_guard {

struct Rules {
  int64_t window_ms = 60000;
  uint32_t max_calls = 0;    // requests admitted per window; 0: none
  double max_tokens = 0;     // LLM tokens used per window; 0: none
  double max_usd = 0;        // USD used per window; 0: none
  uint32_t max_repeats = 0;  // identical requests per window; 0: none
  size_t max_keys = 100000;  // past it the least recently active key is forgotten
};

enum class Rule { kCalls, kTokens, kUsd, kRepeats };
constexpr size_t kRuleCount = 4;
const char* ruleName(Rule rule);  // "max_calls", "max_tokens", "max_usd", "max_repeats"

struct Check {
  bool admitted = false;
  Rule rule = Rule::kCalls;
  uint32_t retry_after_ms = 0;
  std::string reason;
};

class LoopTable {
 public:
  explicit LoopTable(Rules rules) : rules_(rules) {}
  // `stamp`: the rules are taken only if no newer instance's are in force (0: always).
  void setRules(const Rules& rules, uint64_t stamp = 0);
  // setRules, unless an instance created as late or later set its own: an instance applies its
  // rules when it first admits, not when it is created, so a reload the daemon then rejects
  // leaves the running rules alone, and an older instance admitting after a reload never puts
  // its rules back. Stamps only grow.
  void useRules(uint64_t stamp, const Rules& rules) {
    if (rules_stamp_.load(std::memory_order_acquire) >= stamp) return;  // the common case: no lock
    setRules(rules, stamp);
  }

  // Admits the call unless a rule trips; an admitted call counts toward max_calls and
  // max_repeats from now on. `label` names the key in reasons ("session \"s-1\"").
  Check admit(std::string_view key, std::string_view label, uint64_t request_hash, int64_t now_ms);
  // What a finished request of `key` used, counted toward max_tokens and max_usd.
  void charge(std::string_view key, double tokens, double usd, int64_t now_ms);

  uint64_t refusals(Rule rule) const { return refusals_[size_t(rule)].load(std::memory_order_relaxed); }
  // Keys forgotten to make room for a new one past max_keys.
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  // True once, the first time it is asked after a key was forgotten: for one log line per table
  // (it outlives reloads).
  bool firstEvictionUnsaid() { return evictions() > 0 && !eviction_said_.exchange(true, std::memory_order_relaxed); }
  size_t size() const;

 private:
  // Entries in time order, the oldest dropped as they leave the window: a vector read from
  // `head`, compacted when the dropped part is the larger. Empty, it allocates nothing (a
  // std::deque allocates about 600 bytes as soon as it exists, for every key).
  template <class T>
  struct TimeLog {
    std::vector<T> items;
    size_t head = 0;
    bool empty() const { return head == items.size(); }
    size_t size() const { return items.size() - head; }
    const T& front() const { return items[head]; }
    const T* begin() const { return items.data() + head; }
    const T* end() const { return items.data() + items.size(); }
    void push(const T& t) { items.push_back(t); }
    void popFront() {
      if (++head == items.size()) {
        if (items.capacity() > 64) std::vector<T>().swap(items);  // a busy spell's memory goes back
        else items.clear();
        head = 0;
      }
      else if (head >= 64 && head * 2 >= items.size()) items.erase(items.begin(), items.begin() + ptrdiff_t(head)), head = 0;
    }
  };
  struct Call {
    int64_t at;
    uint64_t hash;
  };
  struct Use {
    int64_t at;
    double tokens, usd;
  };
  struct KeyState {
    TimeLog<Call> calls;  // kept only when max_calls or max_repeats is set
    TimeLog<Use> uses;    // kept only when max_tokens or max_usd is set
    double tokens = 0, usd = 0;  // the sums of `uses`
    std::unordered_map<uint64_t, uint32_t> repeats;  // calls in the window by request hash (max_repeats)
    std::list<const std::string*>::iterator recent;  // its place in recent_
  };
  void expire(KeyState* ks, int64_t now_ms) const;
  KeyState* findOrAdd(std::string_view key);
  Check refuse(Rule rule, int64_t oldest, int64_t now_ms, std::string reason);

  mutable std::mutex mu_;
  Rules rules_;
  std::atomic<uint64_t> rules_stamp_{0};  // whose rules are in force (useRules); 0: the creator's
  std::map<std::string, KeyState, std::less<>> keys_;
  std::list<const std::string*> recent_;  // keys_'s keys, the most recently active first
  std::array<std::atomic<uint64_t>, kRuleCount> refusals_{};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<bool> eviction_said_{false};
};

// FNV-1a, 64 bits, continued from `h`: the request hash is built from views without copying.
inline uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}
constexpr uint64_t kFnvOffset = 14695981039346656037ull;

}  // namespace outrigger::loop_guard
