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

}  // namespace outrigger
