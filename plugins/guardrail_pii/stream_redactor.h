// Redaction of a streamed answer that ends byte for byte where redacting the whole answer at
// once would (Detector::detect + Redactor::apply, then restorePlaceholders), however the text
// is cut into chunks.
//
// Each chunk goes through the Vectorscan stream once; what is released is the longest prefix
// that no match still in progress can reach:
//   1. hold back the last Detector::kLookahead bytes (validators look that far past a match) and, before them,
//      the longest suffix some pattern could still be matching (Detector::liveSuffix): a match
//      starting before that is complete, and so are the bytes after it;
//   2. move the cut back to the start of any confirmed match that crosses it, so overlapping
//      matches are resolved together, as the whole text resolves them;
//   3. release up to the cut with the actions applied, keeping kLookbehind bytes before it as
//      the context later matches are judged with.
// With reversible placeholders, the released text then passes a second hold-back for a
// placeholder that may be cut ("<EMAI" + "L_1>") before it is restored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "detector.h"
#include "pattern_scanner.h"
#include "redaction.h"

namespace outrigger::pii {

class StreamRedactor {
 public:
  // `restore`: turn the book's restorable placeholders back into originals.
  StreamRedactor(const Detector& detector, const Redactor& redactor, PlaceholderBook& book, bool restore)
      : detector_(detector), redactor_(redactor), book_(book), restore_(restore) {}

  // Opens the Vectorscan stream; what failed, or "".
  std::string start(Scanner& scanner);
  // Takes a chunk; appends what may be released now to `out`. What failed, or "".
  std::string feed(Scanner& scanner, std::string_view chunk, std::string* out, Outcome* outcome);
  // The stream ended: appends everything still held. What failed, or "".
  std::string finish(Scanner& scanner, std::string* out, Outcome* outcome);
  // Bytes taken but not released yet.
  size_t held() const { return static_cast<size_t>(length_ - released_) + restore_hold_.size(); }

 private:
  // Releases [released_, cut) with `found` (its confirmed matches) applied.
  void releaseUpTo(uint64_t cut, std::vector<Detection> found, std::string* out, Outcome* outcome);

  const Detector& detector_;
  const Redactor& redactor_;
  PlaceholderBook& book_;
  const bool restore_;
  MatchStream stream_;
  std::string text_;        // bytes from base_ on: context before released_, then what is held
  uint64_t base_ = 0;       // absolute offset of text_[0]
  uint64_t released_ = 0;   // absolute offset up to which text went out
  uint64_t length_ = 0;     // bytes taken so far
  std::vector<Match> matches_;  // those starting at or after released_
  std::string restore_hold_;    // released text that may end inside a placeholder
};

}  // namespace outrigger::pii
