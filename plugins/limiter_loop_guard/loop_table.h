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
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace outrigger::loop_guard {

struct Rules {
  int64_t window_ms = 60000;
  uint32_t max_calls = 0;    // requests admitted per window; 0: none
  double max_tokens = 0;     // LLM tokens used per window; 0: none
  double max_usd = 0;        // USD used per window; 0: none
  uint32_t max_repeats = 0;  // identical requests per window; 0: none
  size_t max_keys = 100000;
};

enum class Rule { kCalls, kTokens, kUsd, kRepeats, kKeys };
constexpr size_t kRuleCount = 5;
const char* ruleName(Rule rule);  // "max_calls", "max_tokens", "max_usd", "max_repeats", "max_keys"

struct Check {
  bool admitted = false;
  Rule rule = Rule::kCalls;
  uint32_t retry_after_ms = 0;
  std::string reason;
};

class LoopTable {
 public:
  explicit LoopTable(Rules rules) : rules_(rules) {}
  void setRules(const Rules& rules);

  // Admits the call unless a rule trips; an admitted call counts toward max_calls and
  // max_repeats from now on. `label` names the key in reasons ("session \"s-1\"").
  Check admit(std::string_view key, std::string_view label, uint64_t request_hash, int64_t now_ms);
  // What a finished request of `key` used, counted toward max_tokens and max_usd.
  void charge(std::string_view key, double tokens, double usd, int64_t now_ms);

  uint64_t refusals(Rule rule) const { return refusals_[size_t(rule)].load(std::memory_order_relaxed); }
  size_t size() const;

 private:
  struct Call {
    int64_t at;
    uint64_t hash;
  };
  struct Use {
    int64_t at;
    double tokens, usd;
  };
  struct KeyState {
    std::deque<Call> calls;
    std::deque<Use> uses;
  };
  void expire(KeyState* ks, int64_t now_ms) const;
  KeyState* findOrAdd(std::string_view key, int64_t now_ms);
  Check refuse(Rule rule, int64_t oldest, int64_t now_ms, std::string reason);

  mutable std::mutex mu_;
  Rules rules_;
  std::map<std::string, KeyState, std::less<>> keys_;
  std::array<std::atomic<uint64_t>, kRuleCount> refusals_{};
};

// FNV-1a, 64 bits, continued from `h`: the request hash is built from views without copying.
inline uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}
constexpr uint64_t kFnvOffset = 14695981039346656037ull;

}  // namespace outrigger::loop_guard
