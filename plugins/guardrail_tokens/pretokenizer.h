// The split patterns of o200k_base and cl100k_base, matched by hand: the piece that starts at a
// position, exactly as PCRE2 finds it with the pattern (same alternatives in the same order, the
// same backtracking outcome, the character classes PCRE2 itself gave at build time:
// unicode_classes.h), four to six times faster on text of many scripts, where PCRE2 looks each
// character's properties up once for every alternative it tries. tests/tokens/encoder_test.cc
// compares the pieces with PCRE2's on text built from every class, and the fuzzer does on
// hostile bytes. Any other pattern is run by PCRE2 (BpeEncoding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace outrigger::tokens {

inline constexpr std::string_view kO200kPattern =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
inline constexpr std::string_view kCl100kPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Where the piece that starts at `pos` ends (pos < size): `text` must be valid UTF-8.
using PieceEndFn = size_t (*)(const uint8_t* text, size_t size, size_t pos);
size_t o200kPieceEnd(const uint8_t* text, size_t size, size_t pos);
size_t cl100kPieceEnd(const uint8_t* text, size_t size, size_t pos);

// The hand matcher of `pattern`, or nullptr when it is neither of the two above.
PieceEndFn pieceEndFor(std::string_view pattern);

}  // namespace outrigger::tokens
