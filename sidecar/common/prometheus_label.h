// A Prometheus label value as the text exposition format wants it: backslash, double quote and
// newline escaped. Shared by /metrics and the drift gauges.
#pragma once

#include <string>
#include <string_view>

namespace outrigger {

inline std::string escapePrometheusLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace outrigger
