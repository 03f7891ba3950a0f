// Turns pattern matches into detections: each match is confirmed by its entity's validator and
// scored (base confidence, context words before it), the longest confirmed match per start is
// kept, and overlapping detections are resolved (the longer wins, then the higher score).
//
// Every decision about a match depends only on the match, at most kLookahead bytes after it and
// at most kLookbehind bytes before it. That locality is what lets a stream decide a prefix of the text
// as the whole text would (stream_redactor.h).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "entities.h"
#include "pattern_scanner.h"
#include "phone_validator.h"

namespace outrigger::pii {

struct Detection {
  uint64_t from, to;  // absolute byte offsets
  uint32_t entity;
  double score;
};

struct DetectorSettings {
  std::vector<EntitySpec> entities;
  std::vector<PatternSpec> patterns;
  std::vector<std::string> phone_regions = {"US"};
  double min_score = 0.5;
};

class Detector {
 public:
  static constexpr size_t kLookbehind = 64;
  // Bytes after a match its validator reads: a card's expiry after it (" 12/27") needs four.
  static constexpr size_t kLookahead = 4;

  // Compiles the patterns; nullptr and `error` when one does not compile or has no bounded
  // length (a stream could not know how much to hold back).
  static std::shared_ptr<const Detector> build(DetectorSettings settings, std::string* error);

  // The detections of a whole text (unary): scan, confirm, resolve. Returns what failed, or "".
  std::string detect(Scanner& scanner, std::string_view text, std::vector<Detection>* out) const;

  // Finds where the matches the one pass reported (`ends`: pattern and end) start: the leftmost
  // start of a match ending there, within the run of the pattern's characters before the end,
  // at most its longest match + 1 back (a start that far makes the match too long). `text`
  // starts at absolute offset `base` and holds at least maxWindow() bytes before every end
  // (or starts at the text's start). Appends to `out`; what failed, or "".
  std::string locate(Scanner& scanner, std::string_view text, uint64_t base, const std::vector<Match>& ends,
                     std::vector<Match>* out) const;
  // The most bytes locate() reads before a match's end.
  uint64_t maxWindow() const { return max_window_; }

  // The confirmed matches among `matches` whose start lies in [lo, hi), at most one per pattern
  // and start, before overlaps are resolved. `text` holds the bytes from absolute offset `base`
  // on (base 0: the start of the text), and reaches at least one byte past every match ending
  // before its end.
  std::vector<Detection> confirm(std::string_view text, uint64_t base, const std::vector<Match>& matches, uint64_t lo,
                                 uint64_t hi) const;
  // Keeps non-overlapping detections, in order of start.
  static void resolveOverlaps(std::vector<Detection>* detections);

  // The length of the longest suffix of `text` a match could still extend over when more text
  // follows: a stream holds back at least this much.
  uint64_t liveSuffix(std::string_view text) const;

  const EntitySpec& entity(uint32_t index) const { return settings_.entities[index]; }
  size_t entityCount() const { return settings_.entities.size(); }
  const std::shared_ptr<const PatternDatabase>& database() const { return db_; }

 private:
  explicit Detector(DetectorSettings settings) : settings_(std::move(settings)), phone_(settings_.phone_regions) {}
  // The confidence of text[from, to) as its pattern's entity, or a negative value.
  double judge(std::string_view text, uint64_t base, uint32_t pattern, uint64_t from, uint64_t to) const;
  // What the context words in the sentence before a match add to its confidence.
  static double contextDelta(std::string_view before_match, const EntitySpec& e);
  // The entity's validator, with the two bytes before the match (0 before the text) and the
  // kLookahead bytes after it (fewer at the text's end).
  bool validates(Check check, std::string_view span, char b2, char b1, std::string_view after) const;

  DetectorSettings settings_;
  PhoneValidator phone_;
  std::shared_ptr<const PatternDatabase> db_;
  std::vector<uint32_t> max_widths_;
  uint64_t max_window_ = 0;
  // Fills suffix_patterns_.
  void findSuffixPatterns();

  std::vector<std::array<bool, 256>> alphabets_;  // per pattern, by byte
  std::vector<uint32_t> suffix_patterns_;  // the patterns liveSuffix() measures
};

}  // namespace outrigger::pii
