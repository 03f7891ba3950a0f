#include "common/utf8.h"

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>

namespace outrigger {
namespace {

struct Discard {
  void Put(char) {}
};

bool isContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

bool validUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80) ++i;  // ASCII fast path
  if (i == text.size()) return true;
  rapidjson::MemoryStream in(text.data() + i, text.size() - i);
  Discard out;
  while (in.Tell() < text.size() - i) {
    if (!rapidjson::UTF8<>::Validate(in, out)) return false;
  }
  return true;
}

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
  std::string out;
  out.reserve(text.size() + 8);
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  for (size_t i = 0; i < text.size();) {
    unsigned char lead = byte(i);
    if (lead < 0x80) {
      out.push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    // How many continuation bytes the lead byte wants, and the range the first of them must lie
    // in (narrower after E0, ED, F0 and F4: no overlongs, surrogates or code points past U+10FFFF).
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) need = 1;
    else if (lead >= 0xE0 && lead <= 0xEF) need = 2, lo = lead == 0xE0 ? 0xA0 : 0x80, hi = lead == 0xED ? 0x9F : 0xBF;
    else if (lead >= 0xF0 && lead <= 0xF4) need = 3, lo = lead == 0xF0 ? 0x90 : 0x80, hi = lead == 0xF4 ? 0x8F : 0xBF;
    size_t got = 0;
    while (got < need && i + 1 + got < text.size()) {
      unsigned char c = byte(i + 1 + got);
      if (c < (got == 0 ? lo : 0x80) || c > (got == 0 ? hi : 0xBF)) break;
      ++got;
    }
    if (need > 0 && got == need) {
      out.append(text.data() + i, need + 1);
    } else {
      out += kReplacement;  // the maximal subpart that could have begun a character, as one
    }
    i += 1 + got;
  }
  return out;
}

}  // namespace outrigger
