#include "pretokenizer.h"

#include "unicode_classes.h"

namespace outrigger::tokens {
namespace {

// One character of the text: its code point, its length in bytes and its classes. Past the end
// of the text: size 0 and no class, which every alternative refuses.
struct Char {
  uint32_t cp;
  uint32_t size;
  uint32_t classes;  // a uint8_t here made each call wait on a narrow store read back wide

  bool is(uint8_t cls) const { return classes & cls; }
  bool isNewline() const { return cp == '\r' || cp == '\n'; }
  // [^\r\n\p{L}\p{N}]: what may come before a word.
  bool isWordPrefix() const { return size && !is(kLetterClass | kNumberClass) && !isNewline(); }
  // [^\s\p{L}\p{N}]: punctuation, symbols and all else.
  bool isPunctuation() const { return size && !is(kSpaceClass | kLetterClass | kNumberClass); }
};

// Inlined into every loop: called for each character of the text, often more than once.
[[gnu::always_inline]] inline Char charAt(const uint8_t* s, size_t n, size_t pos) {
  if (pos >= n) return {UINT32_MAX, 0, 0};
  uint32_t b = s[pos];
  if (b < 0x80) return {b, 1, classesOf(b)};
  uint32_t cp, size;
  if (b < 0xE0) {
    cp = (b & 0x1F) << 6 | (s[pos + 1] & 0x3F), size = 2;
  } else if (b < 0xF0) {
    cp = (b & 0x0F) << 12 | (s[pos + 1] & 0x3F) << 6 | (s[pos + 2] & 0x3F), size = 3;
  } else {
    cp = (b & 0x07) << 18 | (s[pos + 1] & 0x3F) << 12 | (s[pos + 2] & 0x3F) << 6 | (s[pos + 3] & 0x3F), size = 4;
  }
  return {cp, size, classesOf(cp)};
}

constexpr size_t kNoMatch = SIZE_MAX;

// The end of the run of characters in `cls` that starts at pos (pos itself when there is none).
[[gnu::always_inline]] inline size_t runEnd(const uint8_t* s, size_t n, size_t pos, uint8_t cls) {
  for (Char c = charAt(s, n, pos); c.is(cls); c = charAt(s, n, pos)) pos += c.size;
  return pos;
}

// The lower-case ASCII letter `(?i:x)` matches this code point for, or 0.
char contractionLetter(uint32_t cp) {
  for (size_t i = 0; i < kContractionLetterCount; ++i) {
    if (kContractionLetters[i].code_point == cp) return kContractionLetters[i].letter;
  }
  return 0;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d) at pos: where it ends, or pos when it does not match.
[[gnu::always_inline]] inline size_t contractionEnd(const uint8_t* s, size_t n, size_t pos) {
  if (pos >= n || s[pos] != '\'') return pos;
  Char first = charAt(s, n, pos + 1);
  if (!first.size) return pos;
  size_t after_first = pos + 1 + first.size;
  char second_wanted = 0;
  switch (contractionLetter(first.cp)) {
    case 's': case 't': case 'm': case 'd': return after_first;
    case 'r': case 'v': second_wanted = 'e'; break;
    case 'l': second_wanted = 'l'; break;
    default: return pos;
  }
  Char second = charAt(s, n, after_first);
  return second.size && contractionLetter(second.cp) == second_wanted ? after_first + second.size : pos;
}

// o200k_base's [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+ at q. The upper run is
// taken whole; when no lower character follows it, backtracking gives characters back until the
// last one of the run that is also of the lower class, which the lower repeat then takes alone.
[[gnu::always_inline]] inline size_t upperThenLowerEnd(const uint8_t* s, size_t n, size_t q) {
  size_t end = q, last_lower_end = kNoMatch;
  Char c = charAt(s, n, end);
  for (; c.is(kUpperClass); c = charAt(s, n, end)) {
    end += c.size;
    if (c.is(kLowerClass)) last_lower_end = end;
  }
  if (c.is(kLowerClass)) return runEnd(s, n, end + c.size, kLowerClass);
  return last_lower_end;
}

// o200k_base's [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]* at q.
[[gnu::always_inline]] inline size_t upperRunThenLowerEnd(const uint8_t* s, size_t n, size_t q) {
  size_t end = runEnd(s, n, q, kUpperClass);
  return end == q ? kNoMatch : runEnd(s, n, end, kLowerClass);
}

// \p{N}{1,3} at pos, whose character `c` is a number.
[[gnu::always_inline]] inline size_t numberEnd(const uint8_t* s, size_t n, size_t pos, Char c) {
  size_t end = pos + c.size;
  for (int more = 0; more < 2; ++more) {
    Char next = charAt(s, n, end);
    if (!next.is(kNumberClass)) break;
    end += next.size;
  }
  return end;
}

// ` ?[^\s\p{L}\p{N}]+[\r\n]*` at pos, or `[\r\n/]*` at its end `with_slash`; kNoMatch when
// neither a space then punctuation nor punctuation starts there.
[[gnu::always_inline]] inline size_t punctuationEnd(const uint8_t* s, size_t n, size_t pos, Char c0, bool with_slash) {
  size_t q = c0.cp == ' ' ? pos + 1 : pos;
  Char c = q == pos ? c0 : charAt(s, n, q);
  if (!c.isPunctuation()) return kNoMatch;
  size_t end = q;
  for (; c.isPunctuation(); c = charAt(s, n, end)) end += c.size;
  while (end < n && (s[end] == '\r' || s[end] == '\n' || (with_slash && s[end] == '/'))) ++end;
  return end;
}

// \s*[\r\n]+|\s+(?!\S)|\s+ at pos, whose character is a space: a run of spaces ends after its
// last newline if it has one; else, when more text follows, before its last space, which goes with
// what follows (unless it is the run's only one); else at its end.
[[gnu::always_inline]] inline size_t spaceEnd(const uint8_t* s, size_t n, size_t pos) {
  size_t end = pos, last_start = pos, after_newline = kNoMatch;
  for (Char c = charAt(s, n, end); c.is(kSpaceClass); c = charAt(s, n, end)) {
    last_start = end;
    end += c.size;
    if (c.isNewline()) after_newline = end;
  }
  if (after_newline != kNoMatch) return after_newline;
  if (end == n || last_start == pos) return end;
  return last_start;
}

}  // namespace

size_t o200kPieceEnd(const uint8_t* s, size_t n, size_t pos) {
  const Char c0 = charAt(s, n, pos);
  // The two word alternatives, each first with a character before the word, then without it
  // (a combining mark is both such a character and part of a word).
  const size_t after_prefix = c0.isWordPrefix() ? pos + c0.size : kNoMatch;
  size_t end = after_prefix != kNoMatch ? upperThenLowerEnd(s, n, after_prefix) : kNoMatch;
  if (end == kNoMatch) end = upperThenLowerEnd(s, n, pos);
  if (end == kNoMatch && after_prefix != kNoMatch) end = upperRunThenLowerEnd(s, n, after_prefix);
  if (end == kNoMatch) end = upperRunThenLowerEnd(s, n, pos);
  if (end != kNoMatch) return contractionEnd(s, n, end);
  if (c0.is(kNumberClass)) return numberEnd(s, n, pos, c0);
  if (size_t punctuation = punctuationEnd(s, n, pos, c0, /*with_slash=*/true); punctuation != kNoMatch) return punctuation;
  if (c0.is(kSpaceClass)) return spaceEnd(s, n, pos);
  return pos + c0.size;  // not reached: every character is of some alternative's class
}

size_t cl100kPieceEnd(const uint8_t* s, size_t n, size_t pos) {
  if (size_t end = contractionEnd(s, n, pos); end != pos) return end;
  const Char c0 = charAt(s, n, pos);
  if (c0.isWordPrefix()) {
    size_t end = runEnd(s, n, pos + c0.size, kLetterClass);
    if (end != pos + c0.size) return end;
  }
  if (c0.is(kLetterClass)) return runEnd(s, n, pos, kLetterClass);
  if (c0.is(kNumberClass)) return numberEnd(s, n, pos, c0);
  if (size_t end = punctuationEnd(s, n, pos, c0, /*with_slash=*/false); end != kNoMatch) return end;
  if (c0.is(kSpaceClass)) return spaceEnd(s, n, pos);
  return pos + c0.size;  // not reached: every character is of some alternative's class
}

PieceEndFn pieceEndFor(std::string_view pattern) {
  if (pattern == kO200kPattern) return o200kPieceEnd;
  if (pattern == kCl100kPattern) return cl100kPieceEnd;
  return nullptr;
}

}  // namespace outrigger::tokens
