#include "loop_table.h"

#include <algorithm>
#include <cstdio>

namespace outrigger::loop_guard {

const char* ruleName(Rule rule) {
  switch (rule) {
    case Rule::kCalls: return "max_calls";
    case Rule::kTokens: return "max_tokens";
    case Rule::kUsd: return "max_usd";
    case Rule::kRepeats: return "max_repeats";
    case Rule::kKeys: break;
  }
  return "max_keys";
}

void LoopTable::setRules(const Rules& rules) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_ = rules;
}

size_t LoopTable::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.size();
}

void LoopTable::expire(KeyState* ks, int64_t now_ms) const {
  int64_t from = now_ms - rules_.window_ms;
  while (!ks->calls.empty() && ks->calls.front().at <= from) ks->calls.pop_front();
  while (!ks->uses.empty() && ks->uses.front().at <= from) ks->uses.pop_front();
}

LoopTable::KeyState* LoopTable::findOrAdd(std::string_view key, int64_t now_ms) {
  auto it = keys_.find(key);
  if (it != keys_.end()) return &it->second;
  if (keys_.size() >= rules_.max_keys) {
    // Keys with nothing left in the window are the same as new ones: forget them.
    for (auto k = keys_.begin(); k != keys_.end();) {
      expire(&k->second, now_ms);
      k = k->second.calls.empty() && k->second.uses.empty() ? keys_.erase(k) : std::next(k);
    }
    if (keys_.size() >= rules_.max_keys) return nullptr;
  }
  return &keys_.emplace(std::string(key), KeyState{}).first->second;
}

Check LoopTable::refuse(Rule rule, int64_t oldest, int64_t now_ms, std::string reason) {
  refusals_[size_t(rule)].fetch_add(1, std::memory_order_relaxed);
  int64_t wait = oldest + rules_.window_ms - now_ms + 1;
  return {false, rule, static_cast<uint32_t>(std::clamp<int64_t>(wait, 1, rules_.window_ms)), std::move(reason)};
}

Check LoopTable::admit(std::string_view key, std::string_view label, uint64_t request_hash, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  KeyState* ks = findOrAdd(key, now_ms);
  if (!ks) return refuse(Rule::kKeys, now_ms, now_ms, "loop guard: too many keys tracked at once (max_keys)");
  expire(ks, now_ms);
  std::string in = " in " + std::to_string(rules_.window_ms / 1000) + " s";
  std::string who = "loop guard: " + std::string(label);
  if (rules_.max_calls && ks->calls.size() >= rules_.max_calls) {
    return refuse(Rule::kCalls, ks->calls.front().at, now_ms,
                  who + " made " + std::to_string(ks->calls.size()) + " calls" + in + " (max_calls " +
                      std::to_string(rules_.max_calls) + ")");
  }
  if (rules_.max_repeats) {
    uint32_t same = 0;
    int64_t first = now_ms;
    for (const Call& c : ks->calls) {
      if (c.hash != request_hash) continue;
      if (same++ == 0) first = c.at;
    }
    if (same >= rules_.max_repeats) {
      return refuse(Rule::kRepeats, first, now_ms,
                    who + " sent the same request " + std::to_string(same) + " times" + in + " (max_repeats " +
                        std::to_string(rules_.max_repeats) + ")");
    }
  }
  double tokens = 0, usd = 0;
  for (const Use& u : ks->uses) {
    tokens += u.tokens;
    usd += u.usd;
  }
  int64_t oldest_use = ks->uses.empty() ? now_ms : ks->uses.front().at;
  if (rules_.max_tokens > 0 && tokens >= rules_.max_tokens) {
    return refuse(Rule::kTokens, oldest_use, now_ms,
                  who + " used " + std::to_string(uint64_t(tokens)) + " tokens" + in + " (max_tokens " +
                      std::to_string(uint64_t(rules_.max_tokens)) + ")");
  }
  if (rules_.max_usd > 0 && usd >= rules_.max_usd) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " used %.6g USD%s (max_usd %.6g)", usd, in.c_str(), rules_.max_usd);
    return refuse(Rule::kUsd, oldest_use, now_ms, who + buf);
  }
  ks->calls.push_back({now_ms, request_hash});
  return {true, Rule::kCalls, 0, {}};
}

void LoopTable::charge(std::string_view key, double tokens, double usd, int64_t now_ms) {
  if (tokens <= 0 && usd <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return;  // forgotten: nothing of it was left in the window
  it->second.uses.push_back({now_ms, tokens, usd});
}

}  // namespace outrigger::loop_guard
