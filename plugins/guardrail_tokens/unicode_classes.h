// The character classes of the o200k_base and cl100k_base split patterns, code point by code
// point, as this build's PCRE2 matches them (tiktoken_classgen asks it at build time and writes
// the tables into unicode_classes.cc).
#pragma once

#include <cstddef>
#include <cstdint>

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

}  // namespace outrigger::tokens
