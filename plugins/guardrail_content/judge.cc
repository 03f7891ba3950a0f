#include "judge.h"

#include <rapidjson/document.h>
#include <xxhash.h>

#include <cctype>

#include "bounded_json.h"

namespace outrigger::content {
namespace {

std::optional<JudgeVerdict> verdictOf(std::string_view word) {
  std::string w;
  for (char c : word) w.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (w == "SAFE") return JudgeVerdict::kSafe;
  if (w == "UNSAFE") return JudgeVerdict::kUnsafe;
  return std::nullopt;
}

}  // namespace

std::optional<JudgeVerdict> parseJudgeAnswer(std::string_view answer) {
  size_t i = 0;
  while (i < answer.size() && !std::isalnum(static_cast<unsigned char>(answer[i]))) ++i;
  size_t j = i;
  while (j < answer.size() && std::isalpha(static_cast<unsigned char>(answer[j]))) ++j;
  if (auto v = verdictOf(answer.substr(i, j - i))) return v;
  // Else a JSON object, possibly in a code fence: {"verdict": "unsafe", ...}
  const size_t brace = answer.find('{');
  if (brace == std::string_view::npos) return std::nullopt;
  // The bounded parser: the judge's answer comes from a model, and RapidJSON's own recurses once
  // per bracket (a million '[' overflowed the worker's stack).
  rapidjson::Document d;
  if (!json::parse<rapidjson::kParseStopWhenDoneFlag>(answer.substr(brace), &d)) return std::nullopt;
  if (!d.IsObject() || !d.HasMember("verdict") || !d["verdict"].IsString()) return std::nullopt;
  return verdictOf(d["verdict"].GetString());
}

JudgeCache::Key JudgeCache::keyOf(std::string_view text) {
  const XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  return {h.low64, h.high64};
}

std::optional<JudgeVerdict> JudgeCache::find(std::string_view text, Clock::time_point now) {
  auto it = index_.find(keyOf(text));
  if (it == index_.end()) return std::nullopt;
  if (now - it->second->stored >= ttl_) {
    lru_.erase(it->second);
    index_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->verdict;
}

void JudgeCache::put(std::string_view text, JudgeVerdict verdict, Clock::time_point now) {
  if (max_entries_ == 0) return;
  const Key key = keyOf(text);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->verdict = verdict;
    it->second->stored = now;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (index_.size() >= max_entries_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front({key, verdict, now});
  index_.emplace(key, lru_.begin());
}

}  // namespace outrigger::content
