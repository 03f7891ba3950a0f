// Literal phrase lists matched as whole words, case-insensitively, in one RE2 set: banned
// topics (each a named keyword list) and refusal phrasing. Every match is bounded in length
// (maxMatchBytes), so a stream can be checked holding back only that many bytes.
#pragma once

#include <re2/set.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::content {

struct PhraseGroup {
  std::string name;
  std::vector<std::string> phrases;
};

class PhraseMatcher {
 public:
  PhraseMatcher() = default;
  // Throws std::runtime_error when the groups do not compile.
  explicit PhraseMatcher(const std::vector<PhraseGroup>& groups);
  bool empty() const { return !set_; }
  // Indexes of the groups with a phrase in `text`. A phrase counts when a non-word character
  // (or the text's edge, when the edge is marked as such) stands on both sides of it: pass
  // `at_start`/`at_end` false for a window cut out of a longer text. Empty on no match; `error`
  // set when the engine failed.
  std::vector<int> match(std::string_view text, bool at_start, bool at_end, std::string* error) const;
  // The most bytes one match (with its two boundary characters) can span.
  size_t maxMatchBytes() const { return max_match_bytes_; }

 private:
  std::unique_ptr<RE2::Set> set_;
  size_t max_match_bytes_ = 0;
};

// Opening phrases of an answer that refuses ("I'm sorry, but I can't help with that").
const std::vector<std::string>& builtinRefusalPhrases();

}  // namespace outrigger::content
