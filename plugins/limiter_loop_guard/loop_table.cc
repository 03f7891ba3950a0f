#include "loop_table.h"

#include <algorithm>
#include <cstdio>

namespace outrigger::loop_guard {

const char* ruleName(Rule rule) {
  switch (rule) {
    case Rule::kCalls: return "max_calls";
    case Rule::kTokens: return "max_tokens";
    case Rule::kUsd: return "max_usd";
    case Rule::kRepeats: break;
  }
  return "max_repeats";
}

void LoopTable::setRules(const Rules& rules, uint64_t stamp) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stamp) {
    if (rules_stamp_.load(std::memory_order_relaxed) >= stamp) return;  // a newer instance's won the race
    rules_stamp_.store(stamp, std::memory_order_release);
  }
  bool recount = (rules.max_repeats != 0) != (rules_.max_repeats != 0);
  rules_ = rules;
  if (!recount) return;
  // The repeat counts follow the calls logged since max_repeats was turned on or off.
  for (auto& [key, ks] : keys_) {
    ks.repeats.clear();
    if (rules_.max_repeats) {
      for (const Call& c : ks.calls) ++ks.repeats[c.hash];
    }
  }
}

size_t LoopTable::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.size();
}

void LoopTable::expire(KeyState* ks, int64_t now_ms) const {
  int64_t from = now_ms - rules_.window_ms;
  for (; !ks->calls.empty() && ks->calls.front().at <= from; ks->calls.popFront()) {
    auto same = ks->repeats.find(ks->calls.front().hash);
    if (same != ks->repeats.end() && --same->second == 0) ks->repeats.erase(same);
  }
  for (; !ks->uses.empty() && ks->uses.front().at <= from; ks->uses.popFront()) {
    ks->tokens -= ks->uses.front().tokens;
    ks->usd -= ks->uses.front().usd;
  }
  if (ks->uses.empty()) ks->tokens = ks->usd = 0;  // no rounding left over from the subtractions
}

// Past max_keys the least recently active key makes room, whatever it holds: a session in a
// loop is among the most active, so it is the last a full table forgets, and refusing new keys
// instead would stop every new session of a busy service until old ones fell out of the window.
LoopTable::KeyState* LoopTable::findOrAdd(std::string_view key) {
  auto it = keys_.find(key);
  if (it != keys_.end()) {
    recent_.splice(recent_.begin(), recent_, it->second.recent);
    return &it->second;
  }
  while (!keys_.empty() && keys_.size() >= rules_.max_keys) {
    auto oldest = keys_.find(*recent_.back());
    recent_.pop_back();
    keys_.erase(oldest);
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  auto added = keys_.emplace(std::string(key), KeyState{}).first;
  recent_.push_front(&added->first);
  added->second.recent = recent_.begin();
  return &added->second;
}

Check LoopTable::refuse(Rule rule, int64_t oldest, int64_t now_ms, std::string reason) {
  refusals_[size_t(rule)].fetch_add(1, std::memory_order_relaxed);
  int64_t wait = oldest + rules_.window_ms - now_ms + 1;
  return {false, rule, static_cast<uint32_t>(std::clamp<int64_t>(wait, 1, rules_.window_ms)), std::move(reason)};
}

Check LoopTable::admit(std::string_view key, std::string_view label, uint64_t request_hash, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  KeyState* ks = findOrAdd(key);
  expire(ks, now_ms);
  std::string in = " in " + std::to_string(rules_.window_ms / 1000) + " s";
  std::string who = "loop guard: " + std::string(label);
  if (rules_.max_calls && ks->calls.size() >= rules_.max_calls) {
    return refuse(Rule::kCalls, ks->calls.front().at, now_ms,
                  who + " made " + std::to_string(ks->calls.size()) + " calls" + in + " (max_calls " +
                      std::to_string(rules_.max_calls) + ")");
  }
  if (auto same_calls = ks->repeats.find(request_hash);
      rules_.max_repeats && same_calls != ks->repeats.end() && same_calls->second >= rules_.max_repeats) {
    uint32_t same = same_calls->second;
    int64_t first = now_ms;  // the oldest of them: when it leaves the window, one more fits
    for (const Call& c : ks->calls) {
      if (c.hash == request_hash) {
        first = c.at;
        break;
      }
    }
    return refuse(Rule::kRepeats, first, now_ms,
                  who + " sent the same request " + std::to_string(same) + " times" + in + " (max_repeats " +
                      std::to_string(rules_.max_repeats) + ")");
  }
  double tokens = ks->tokens, usd = ks->usd;
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
  if (rules_.max_calls || rules_.max_repeats) ks->calls.push({now_ms, request_hash});
  if (rules_.max_repeats) ++ks->repeats[request_hash];
  return {true, Rule::kCalls, 0, {}};
}

void LoopTable::charge(std::string_view key, double tokens, double usd, int64_t now_ms) {
  if (tokens <= 0 && usd <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (rules_.max_tokens <= 0 && rules_.max_usd <= 0) return;
  auto it = keys_.find(key);
  if (it == keys_.end()) return;  // forgotten to make room for newer keys
  it->second.uses.push({now_ms, tokens, usd});
  it->second.tokens += tokens;
  it->second.usd += usd;
}

}  // namespace outrigger::loop_guard
