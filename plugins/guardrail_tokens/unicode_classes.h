// The character classes of the o200k_base and cl100k_base split patterns, code point by code
// point, as this build's PCRE2 matches them (tiktoken_classgen asks it at build time and writes
// the tables into unicode_classes.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace outrigger::tokens {

// Bits of classesOf(code point).
inline constexpr uint8_t kLetterClass = 1;  // \p{L}
inline constexpr uint8_t kNumberClass = 2;  // \p{N}
inline constexpr uint8_t kSpaceClass = 4;   // \s
inline constexpr uint8_t kUpperClass = 8;   // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]: o200k_base's word start
inline constexpr uint8_t kLowerClass = 16;  // [\p{Ll}\p{Lm}\p{Lo}\p{M}]: o200k_base's word rest

inline constexpr uint32_t kClassBlockSize = 256;
inline constexpr uint32_t kCodePointLimit = 0x110000;

// Two stages: the block of 256 code points a code point is in, then its bits in that block.
extern const uint8_t kClassBlockOf[kCodePointLimit / kClassBlockSize];
extern const uint8_t kClassBlocks[][kClassBlockSize];

inline uint8_t classesOf(uint32_t cp) { return kClassBlocks[kClassBlockOf[cp >> 8]][cp & (kClassBlockSize - 1)]; }

// Each code point that `(?i:x)` matches, for the letters x of the contractions ('s 't 're 've
// 'm 'll 'd): more than the ASCII pair where Unicode folds another letter in (U+017F, long s).
struct ContractionLetter {
  uint32_t code_point;
  char letter;  // lower-case ASCII
};
extern const ContractionLetter kContractionLetters[];
extern const size_t kContractionLetterCount;

// A code point (not a surrogate, below kCodePointLimit) as UTF-8: how the generator and the tests
// write the characters they ask about.
inline std::string utf8Of(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xC0 | cp >> 6), s += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += char(0xE0 | cp >> 12), s += char(0x80 | (cp >> 6 & 0x3F)), s += char(0x80 | (cp & 0x3F));
  } else {
    s += char(0xF0 | cp >> 18), s += char(0x80 | (cp >> 12 & 0x3F)), s += char(0x80 | (cp >> 6 & 0x3F));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace outrigger::tokens
