// What happens to a detection: replaced by a typed, numbered placeholder (<EMAIL_1>), masked
// (j***@*******.com), replaced by a salted hash (<EMAIL_9f86d081884c7d65>), or left in place
// while the text is denied or flagged. And, for reversible redaction, placeholders turned back
// into the caller's originals.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "detector.h"

namespace outrigger::pii {

enum class Action : uint8_t { kRedact, kMask, kHash, kDeny, kFlag };

// Parses "redact" | "mask" | "hash" | "deny" | "flag"; false for anything else.
bool parseAction(std::string_view name, Action* out);
const char* actionName(Action action);

struct RedactionPolicy {
  std::vector<Action> actions;  // per entity, by Detector entity index
  std::string hash_salt;
  std::string mask_char = "*";  // one character, UTF-8 ("•" is three bytes)
  size_t mask_keep = 4;  // trailing letters and digits a mask leaves visible
};

// The placeholders of one request: the same value gets the same placeholder every time, and
// numbers count per type in the order values are first seen. Placeholders minted for the
// caller's own text (the request) can be restored; those minted for the answer cannot.
class PlaceholderBook {
 public:
  std::string placeholder(const std::string& label, std::string_view value, bool restorable);
  // The original behind a restorable placeholder ("<EMAIL_1>"), or nullptr.
  const std::string* original(std::string_view placeholder) const;
  size_t restorableCount() const { return originals_.size(); }
  size_t placeholderCount() const { return by_value_.size(); }

 private:
  std::map<std::string, uint32_t> next_;             // label -> last number given
  std::unordered_map<std::string, std::string> by_value_;  // label + '\0' + value -> placeholder
  std::unordered_map<std::string, std::string> originals_;  // placeholder -> value
};

// What applying actions to a piece of text did.
struct Outcome {
  bool changed = false;
  bool flagged = false;
  bool denied = false;
  std::string deny_label;                // the first entity that denied
  std::vector<uint64_t> per_entity;      // detections by entity index
  void add(const Outcome& other);
};

class Redactor {
 public:
  Redactor(const Detector& detector, const RedactionPolicy& policy) : detector_(detector), policy_(policy) {}

  // Appends text[from, to) (absolute offsets; `text` starts at `base`) to `out` with the
  // actions applied to `detections` (sorted, non-overlapping, inside the range).
  void apply(std::string_view text, uint64_t base, uint64_t from, uint64_t to, const std::vector<Detection>& detections,
             PlaceholderBook& book, bool restorable, std::string* out, Outcome* outcome) const;

 private:
  std::string mask(std::string_view value) const;
  std::string hash(const std::string& label, std::string_view value) const;

  const Detector& detector_;
  const RedactionPolicy& policy_;
};

// Turns the book's restorable placeholders in `text` back into originals.
std::string restorePlaceholders(std::string_view text, const PlaceholderBook& book);
// How many trailing bytes of `text` could be the start of a placeholder ("<EMA"): a stream
// holds them back until it knows.
size_t placeholderPrefix(std::string_view text);

}  // namespace outrigger::pii
