#include "text_signals.h"

#include <openssl/evp.h>
#include <re2/re2.h>

#include <algorithm>
#include <cstdint>

namespace outrigger::content {
namespace {

// One UTF-8 code point at `i`, or the byte itself (as a value above U+10FFFF) when it is not
// valid UTF-8, so bytes that are not text pass through untouched.
struct CodePoint {
  uint32_t value;
  size_t length;
};
constexpr uint32_t kNotUtf8 = 0x110000;

CodePoint decodeAt(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  if (b < 0x80) return {b, 1};
  if (b >= 0xC2 && b < 0xE0 && cont(1)) return {(b & 0x1Fu) << 6 | at(1), 2};
  if (b >= 0xE0 && b < 0xF0 && cont(1) && cont(2)) {
    uint32_t v = (b & 0x0Fu) << 12 | at(1) << 6 | at(2);
    if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF)) return {v, 3};
  }
  if (b >= 0xF0 && b < 0xF5 && cont(1) && cont(2) && cont(3)) {
    uint32_t v = (b & 0x07u) << 18 | at(1) << 12 | at(2) << 6 | at(3);
    if (v >= 0x10000 && v <= 0x10FFFF) return {v, 4};
  }
  return {kNotUtf8, 1};
}

bool isInvisible(uint32_t c) {
  return c == 0x200B || c == 0x200C || c == 0x200D || c == 0x2060 || (c >= 0x2061 && c <= 0x2064) ||
         c == 0xFEFF || c == 0x180E || c == 0x00AD;
}
// Every Bidi_Control character: the embeddings, overrides and isolates, and the invisible marks
// LRM, RLM and ALM, which split a word as well as any of them.
bool isBidiControl(uint32_t c) {
  return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E || c == 0x200F || c == 0x061C;
}
bool isTag(uint32_t c) { return c >= 0xE0000 && c <= 0xE007F; }
// Variation selectors 1-256: one after an emoji or ideograph picks its form; a run of them
// spells bytes (VS1-16 are 0-15, VS17-256 are 16-255), a known way to smuggle text.
int selectorByte(uint32_t c) {
  if (c >= 0xFE00 && c <= 0xFE0F) return static_cast<int>(c - 0xFE00);
  if (c >= 0xE0100 && c <= 0xE01EF) return static_cast<int>(c - 0xE0100 + 16);
  return -1;
}
constexpr size_t kInvisibleRun = 4;
bool mayStartHidden(unsigned char b) {
  return b == 0xC2 || b == 0xD8 || b == 0xE1 || b == 0xE2 || b == 0xEF || b == 0xF0 || b == 0xF3;
}
constexpr size_t kSelectorRun = 3;
bool isAsciiLetter(char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr uint32_t kWavingBlackFlag = 0x1F3F4;  // 🏴 + tag characters spell England, Scotland, Wales

bool allHex(std::string_view s) {
  if (s.size() % 2) return false;
  for (char c : s) {
    if (!isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string decodeHex(std::string_view s) {
  std::string out;
  int high = -1;
  for (char c : s) {
    if (!isxdigit(static_cast<unsigned char>(c))) continue;
    const int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high << 4 | v));
      high = -1;
    }
  }
  return out;
}

std::string decodeBase64(std::string_view s) {
  std::string in(s);
  for (char& c : in) {  // the URL-safe alphabet too
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  size_t pad = 0;
  while (!in.empty() && in.back() == '=') {
    in.pop_back();
    ++pad;
  }
  in.resize(in.size() - in.size() % 4 + (in.size() % 4 ? 4 : 0), '=');
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return {};
  size_t trailing = 0;  // EVP_DecodeBlock counts the padding's zero bytes
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) ++trailing;
  out.resize(static_cast<size_t>(n) - trailing);
  return out;
}

// Whether a run long enough to decode is there at all: one pass, before the regular
// expressions, since most prompts hold no block.
struct Runs {
  bool base64 = false, hex = false;
};
Runs longRuns(std::string_view text) {
  auto isHex = [](unsigned char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); };
  auto isBase64 = [](unsigned char c) {
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '+' || c == '/' || c == '_' || c == '-';
  };
  Runs found;
  size_t base64 = 0, hex = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    base64 = isBase64(c) ? base64 + 1 : 0;
    hex = isHex(c) || c == ' ' || c == ':' ? hex + 1 : 0;
    found.base64 = found.base64 || base64 >= 24;
    found.hex = found.hex || hex >= 47;
  }
  return found;
}

void decodeBlocks(std::string_view text, const SignalLimits& limits, TextSignals* out) {
  static const RE2 kBase64Block(R"(([A-Za-z0-9+/_-]{24,}={0,2}))");
  static const RE2 kSpacedHex(R"(((?:[0-9A-Fa-f]{2}[ :]){15,}[0-9A-Fa-f]{2}))");
  const Runs runs = longRuns(text);
  size_t tried = 0;
  for (const RE2* pattern : {&kBase64Block, &kSpacedHex}) {
    if (pattern == &kBase64Block ? !runs.base64 : !runs.hex) continue;
    re2::StringPiece input(text.data(), text.size());
    re2::StringPiece block;
    while (tried < limits.max_blocks && RE2::FindAndConsume(&input, *pattern, &block)) {
      ++tried;
      std::string_view b(block.data(), std::min(block.size(), limits.max_block_bytes));
      std::string decoded = pattern == &kSpacedHex || allHex(b) ? decodeHex(b) : decodeBase64(b);
      if (!looksLikeText(decoded)) continue;
      ++out->decoded_blocks;
      out->hidden.push_back(std::move(decoded));
    }
  }
}

}  // namespace

bool looksLikeText(std::string_view bytes) {
  if (bytes.size() < 8) return false;
  size_t letters = 0, spaces = 0, chars = 0;
  for (size_t i = 0; i < bytes.size();) {
    CodePoint cp = decodeAt(bytes, i);
    if (cp.value == kNotUtf8 || (cp.value < 0x20 && cp.value != '\n' && cp.value != '\t' && cp.value != '\r')) return false;
    i += cp.length;
    ++chars;
    if (cp.value == ' ') ++spaces;
    else if (cp.value >= 0x80 || isAsciiLetter(static_cast<char>(cp.value))) ++letters;
  }
  return spaces > 0 && (letters + spaces) * 4 >= chars * 3;
}

TextSignals readSignals(std::string_view text, const SignalLimits& limits) {
  TextSignals out;
  out.visible.reserve(text.size());
  std::string tagged;    // what the tag characters spell (U+E0020..U+E007E mirror ASCII)
  std::string selected;  // what the current run of variation selectors spells
  bool in_flag = false;
  size_t invisible_run = 0;
  auto endSelectorRun = [&] {
    if (selected.size() >= kSelectorRun) {
      ++out.selector_runs;
      out.hidden.push_back(selected);
    }
    selected.clear();
  };
  for (size_t i = 0; i < text.size();) {
    // Copy at once what cannot be hidden: every character this file looks for starts with one of
    // these lead bytes (U+00AD, U+061C, U+180E, U+2000 block, U+FE00/U+FEFF, U+1F3F4, planes 14).
    size_t plain = i;
    while (plain < text.size() && !mayStartHidden(static_cast<unsigned char>(text[plain]))) ++plain;
    if (plain > i) {
      out.visible.append(text, i, plain - i);
      i = plain;
      in_flag = false;
      invisible_run = 0;
      endSelectorRun();
      continue;
    }
    const CodePoint cp = decodeAt(text, i);
    const std::string_view bytes = text.substr(i, cp.length);
    i += cp.length;
    if (const int b = selectorByte(cp.value); b >= 0) {
      selected.push_back(static_cast<char>(b));
      continue;
    }
    endSelectorRun();
    if (isInvisible(cp.value)) {
      if (++invisible_run == kInvisibleRun) ++out.invisible_runs;
    } else {
      invisible_run = 0;
    }
    if (isTag(cp.value)) {
      if (in_flag) {
        if (cp.value == 0xE007F) in_flag = false;  // the cancel tag ends the flag
        continue;
      }
      ++out.tag_characters;
      if (cp.value >= 0xE0020 && cp.value <= 0xE007E) tagged.push_back(static_cast<char>(cp.value - 0xE0000));
      continue;
    }
    in_flag = cp.value == kWavingBlackFlag;
    if (isInvisible(cp.value)) {
      const bool after_letter = !out.visible.empty() && isAsciiLetter(out.visible.back());
      const bool before_letter = i < text.size() && isAsciiLetter(text[i]);
      if (after_letter && before_letter) ++out.invisible_between_letters;
      continue;
    }
    if (isBidiControl(cp.value)) {
      ++out.bidi_controls;
      continue;
    }
    out.visible.append(bytes);
  }
  endSelectorRun();
  if (!tagged.empty()) out.hidden.push_back(std::move(tagged));
  decodeBlocks(out.visible, limits, &out);
  return out;
}

}  // namespace outrigger::content
