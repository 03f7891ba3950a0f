// Inline SVG charts for the HTML report: no scripts, no external assets.
#pragma once

#include <string>
#include <vector>

namespace outrigger::eval {

struct Bar {
  std::string label;
  double value = 0;      // 0..1 of the axis
  double marker = -1;    // a reference tick (the baseline), -1 for none
  std::string caption;   // printed after the bar, e.g. "75.0% (3/4)"
  std::string css_class; // colours the bar
};

// Horizontal bars on a 0..1 axis; each <rect class="bar"> carries data-label and data-value.
std::string horizontalBars(const std::string& id, const std::string& title, const std::vector<Bar>& bars);

// Vertical bars (a histogram): `counts` per bucket labelled `labels`.
std::string histogram(const std::string& id, const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<uint32_t>& counts);

}  // namespace outrigger::eval
