// A Prometheus label value as the text exposition format wants it: backslash, double quote and
// newline escaped, and valid UTF-8, which the format requires (promtool and Prometheus reject a
// whole scrape over one bad byte). Shared by /metrics and the drift gauges. Header-only, so each
// library that writes labels needs nothing more to link.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace outrigger {

namespace prometheus_label_detail {

inline bool isContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The length of the well-formed character at v[i], a byte of 0x80 or more, or 0 when none starts
// there; `*bad` is then how many bytes (at least one) are the maximal invalid subpart, replaced by
// one U+FFFD as Python's "replace" and the WHATWG decoder do. Unicode's table 3-7: the first
// continuation's range is narrower after E0, ED, F0 and F4 (no overlongs, surrogates or code
// points past U+10FFFF).
inline size_t characterAt(std::string_view v, size_t i, size_t* bad) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(v[k]); };
  unsigned char lead = byte(i), lo = 0x80, hi = 0xBF;
  size_t need = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    lo = lead == 0xE0 ? 0xA0 : 0x80;
    hi = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    lo = lead == 0xF0 ? 0x90 : 0x80;
    hi = lead == 0xF4 ? 0x8F : 0xBF;
  }
  size_t got = 0;
  while (got < need && i + 1 + got < v.size()) {
    unsigned char c = byte(i + 1 + got);
    if (c < (got == 0 ? lo : 0x80) || c > (got == 0 ? hi : 0xBF)) break;
    ++got;
  }
  *bad = 1 + got;
  return need > 0 && got == need ? need + 1 : 0;
}

}  // namespace prometheus_label_detail

// The longest prefix of `v` of at most `max_bytes` that does not end inside a character. Never
// longer than `max_bytes`, even for bytes that are not UTF-8 (the escaper replaces what is left).
inline std::string_view labelPrefix(std::string_view v, size_t max_bytes) {
  if (v.size() <= max_bytes) return v;
  size_t end = max_bytes;
  // A character is at most 4 bytes: back over at most 3 continuations to its lead byte.
  for (int back = 0; back < 3 && end > 0 && prometheus_label_detail::isContinuation(static_cast<unsigned char>(v[end]));
       ++back) {
    --end;
  }
  return v.substr(0, end);
}

inline std::string escapePrometheusLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size();) {
    char c = v[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      size_t bad = 0;
      size_t n = prometheus_label_detail::characterAt(v, i, &bad);
      if (n) {
        out.append(v.substr(i, n));
        i += n;
      } else {
        out += "\xEF\xBF\xBD";  // U+FFFD
        i += bad;
      }
      continue;
    }
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
    ++i;
  }
  return out;
}

}  // namespace outrigger
