// A Prometheus label value as the text exposition format wants it: backslash, double quote and
// newline escaped, and valid UTF-8, which the format requires (promtool and Prometheus reject a
// whole scrape over one bad byte). Shared by /metrics and the drift gauges (link outrigger_utf8).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/utf8.h"

namespace outrigger {

// The longest prefix of `v` of at most `max_bytes` that does not end inside a character. Never
// longer than `max_bytes`, even for bytes that are not UTF-8 (the escaper replaces what is left).
inline std::string_view labelPrefix(std::string_view v, size_t max_bytes) {
  if (v.size() <= max_bytes) return v;
  size_t end = max_bytes;
  // A character is at most 4 bytes: back over at most 3 continuations to its lead byte.
  for (int back = 0; back < 3 && end > 0 && (static_cast<unsigned char>(v[end]) & 0xC0) == 0x80; ++back) {
    --end;
  }
  return v.substr(0, end);
}

// Invalid bytes become U+FFFD, each maximal invalid subsequence one (utf8Replaced).
inline std::string escapePrometheusLabel(std::string_view v) {
  const std::string text = utf8Replaced(v);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace outrigger
