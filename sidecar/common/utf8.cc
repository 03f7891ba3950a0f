#include "common/utf8.h"

#include <rapidjson/encodings.h>
#include <simdjson.h>

namespace outrigger {
namespace {

// RapidJSON's encoders write to a stream of characters.
struct StringOutput {
  using Ch = char;
  void Put(char c) { text->push_back(c); }
  std::string* text;
};

bool isContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// At a byte of 0x80 or more: how many continuation bytes it needs to be a character (`need`, 0 for
// a byte that cannot start one), and how many of the bytes after it are those (`got`). The first
// continuation's range is narrower after E0, ED, F0 and F4: no overlongs, surrogates or code
// points past U+10FFFF (Unicode's table 3-7).
void sequenceAt(const unsigned char* p, const unsigned char* end, size_t* need, size_t* got) {
  unsigned char lead = *p, lo = 0x80, hi = 0xBF;
  *need = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    *need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    *need = 2;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    *need = 3;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  }
  *got = 0;
  while (*got < *need && p + 1 + *got < end) {
    unsigned char c = p[1 + *got];
    if (c < (*got == 0 ? lo : 0x80) || c > (*got == 0 ? hi : 0xBF)) break;
    ++*got;
  }
}

// The validator simdjson chose for this CPU, or its portable one where the environment's
// SIMDJSON_FORCE_IMPLEMENTATION names one it does not know (whose validator calls every text
// invalid) or one this CPU cannot run (whose instructions would kill the process).
// Its AVX-512 kernel ("icelake") is passed over for the AVX2 one: on the short texts a request
// brings, switching into 512-bit code call after call made the daemon spend six times its CPU a
// request (exporter_bench, no exporters: about 200 against 33 us), and AVX2 checks as fast.
const simdjson::implementation& validator() {
  static const simdjson::implementation* const chosen = [] {
    const auto& all = simdjson::get_available_implementations();
    // Until first used, the active implementation is a stand-in that detects the CPU again on
    // every call it passes on (a quarter of a worker's CPU on an AVX2-only machine, where nothing
    // below replaced it); its first use puts the one it picked in its place: that one is kept.
    (void)simdjson::get_active_implementation()->name();
    const simdjson::implementation* active = simdjson::get_active_implementation();
    if (active->name() == "icelake") {
      const simdjson::implementation* avx2 = all["haswell"];
      if (avx2 && avx2->supported_by_runtime_system()) return avx2;
    }
    if (active->name() != "unsupported" && active->supported_by_runtime_system()) return active;
    const simdjson::implementation* portable = all["fallback"];
    return portable ? portable : active;
  }();
  return *chosen;
}

}  // namespace

const simdjson::implementation& utf8Validator() { return validator(); }

// simdjson's validator (SIMD, chosen for the CPU at run time) checks text in many scripts at
// gigabytes a second, where a loop per character ran at about 470 MB/s and took 11% of a token
// count on such text.
bool validUtf8(std::string_view text) { return validator().validate_utf8(text.data(), text.size()); }

std::string_view utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && isContinuation(text[end])) --end;
  if (end == 0) {  // one code point longer than the budget: take it whole
    end = 1;
    while (end < text.size() && isContinuation(text[end])) ++end;
  }
  return text.substr(0, end);
}

std::string utf8Replaced(std::string_view text) {
  if (validUtf8(text)) return std::string(text);
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  std::string out;
  out.reserve(text.size() + 8);
  while (p < end) {
    if (*p < 0x80) {
      out.push_back(static_cast<char>(*p++));
      continue;
    }
    size_t need, got;
    sequenceAt(p, end, &need, &got);
    if (need > 0 && got == need) out.append(reinterpret_cast<const char*>(p), need + 1);
    else out += kReplacement;  // the maximal subpart that could have begun a character, as one
    p += 1 + got;
  }
  return out;
}

std::string utf8Of(uint32_t code_point) {
  std::string text;
  StringOutput out{&text};
  rapidjson::UTF8<char>::Encode(out, code_point);
  return text;
}

}  // namespace outrigger
