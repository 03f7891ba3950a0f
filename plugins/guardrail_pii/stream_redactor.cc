#include "stream_redactor.h"

#include <algorithm>

namespace outrigger::pii {

namespace {
constexpr uint64_t kLookahead = Detector::kLookahead;
}  // namespace

std::string StreamRedactor::start(Scanner& scanner) { return scanner.open(&stream_); }

std::string StreamRedactor::feed(Scanner& scanner, std::string_view chunk, std::string* out, Outcome* outcome) {
  std::vector<Match> ends;
  if (std::string err = scanner.feed(stream_, chunk, &ends); !err.empty()) return err;
  text_.append(chunk);
  length_ += chunk.size();
  if (std::string err = detector_.locate(scanner, text_, base_, ends, &matches_); !err.empty()) return err;
  // Validators read kLookahead bytes past a match: those stay back too, with whatever a match
  // could still be growing over before them.
  const uint64_t held = length_ - released_;
  if (held <= kLookahead) return {};
  const std::string_view settled(text_.data() + (released_ - base_), held - kLookahead);
  uint64_t cut = length_ - kLookahead - std::min<uint64_t>(detector_.liveSuffix(settled), settled.size());
  if (cut <= released_) return {};
  // Matches starting before the cut are complete; one that crosses it moves it back, and so
  // does a character it would split: a release is whole UTF-8, or the host refuses it.
  auto continuation = [&](uint64_t at) { return (static_cast<uint8_t>(text_[at - base_]) & 0xC0) == 0x80; };
  while (cut > released_ && continuation(cut)) --cut;
  if (cut <= released_) return {};
  std::vector<Detection> found = detector_.confirm(text_, base_, matches_, released_, cut);
  for (bool moved = true; moved;) {
    moved = false;
    while (cut > released_ && continuation(cut)) --cut, moved = true;
    for (const Detection& d : found) {
      if (d.from < cut && d.to > cut) {
        cut = d.from;
        moved = true;
      }
    }
  }
  // What confirm() would say of [released_, cut): its verdict on a match does not depend on the
  // range, so the detections already made are reused rather than validated again.
  found.erase(std::remove_if(found.begin(), found.end(), [&](const Detection& d) { return d.from >= cut; }), found.end());
  if (cut > released_) releaseUpTo(cut, std::move(found), out, outcome);
  return {};
}

std::string StreamRedactor::finish(Scanner& scanner, std::string* out, Outcome* outcome) {
  std::vector<Match> ends;
  if (std::string err = scanner.close(stream_, &ends); !err.empty()) return err;
  if (std::string err = detector_.locate(scanner, text_, base_, ends, &matches_); !err.empty()) return err;
  releaseUpTo(length_, detector_.confirm(text_, base_, matches_, released_, length_), out, outcome);
  if (restore_) {
    out->append(restorePlaceholders(restore_hold_, book_));
    restore_hold_.clear();
  }
  return {};
}

void StreamRedactor::releaseUpTo(uint64_t cut, std::vector<Detection> found, std::string* out, Outcome* outcome) {
  Detector::resolveOverlaps(&found);
  std::string redacted;
  redactor_.apply(text_, base_, released_, cut, found, book_, /*restorable=*/false, &redacted, outcome);
  released_ = cut;
  matches_.erase(std::remove_if(matches_.begin(), matches_.end(), [&](const Match& m) { return m.from < cut; }),
                 matches_.end());
  // Keep the context later matches are judged with (the bytes before them), and what locating
  // their starts reads.
  const uint64_t keep = std::max<uint64_t>(Detector::kLookbehind + 2, detector_.maxWindow());
  const uint64_t keep_from = cut > keep ? cut - keep : 0;
  if (keep_from > base_) {
    text_.erase(0, keep_from - base_);
    base_ = keep_from;
  }
  if (!restore_) {
    out->append(redacted);
    return;
  }
  restore_hold_.append(redacted);
  const size_t hold = placeholderPrefix(restore_hold_);
  out->append(restorePlaceholders(std::string_view(restore_hold_).substr(0, restore_hold_.size() - hold), book_));
  restore_hold_.erase(0, restore_hold_.size() - hold);
}

}  // namespace outrigger::pii
