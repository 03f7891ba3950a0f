#include "eval/svg_chart.h"

#include <algorithm>
#include <cstdio>

#include "eval/reports.h"

namespace outrigger::eval {

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string fraction(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

std::string horizontalBars(const std::string& id, const std::string& title, const std::vector<Bar>& bars) {
  constexpr double kLabelW = 180, kBarW = 420, kRowH = 26, kTop = 28;
  double height = kTop + kRowH * bars.size() + 24;
  std::string svg = "<svg id=\"" + escapeMarkup(id) + "\" class=\"chart\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"" +
                    num(height) + "\" viewBox=\"0 0 760 " + num(height) + "\">\n<title>" + escapeMarkup(title) +
                    "</title>\n<text x=\"0\" y=\"16\" class=\"chart-title\">" + escapeMarkup(title) + "</text>\n";
  for (double tick : {0.0, 0.5, 1.0}) {
    double x = kLabelW + tick * kBarW;
    svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(kTop - 4) + "\" x2=\"" + num(x) + "\" y2=\"" + num(height - 20) +
           "\" class=\"grid\"/><text x=\"" + num(x) + "\" y=\"" + num(height - 6) + "\" class=\"axis\">" +
           num(tick * 100).substr(0, num(tick * 100).size() - 2) + "%</text>\n";
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    double y = kTop + i * kRowH, v = std::clamp(b.value, 0.0, 1.0);
    svg += "<text x=\"" + num(kLabelW - 8) + "\" y=\"" + num(y + 16) + "\" class=\"label\">" + escapeMarkup(b.label) + "</text>\n";
    svg += "<rect class=\"bar " + escapeMarkup(b.css_class) + "\" data-label=\"" + escapeMarkup(b.label) + "\" data-value=\"" +
           fraction(b.value) + "\" x=\"" + num(kLabelW) + "\" y=\"" + num(y + 4) + "\" width=\"" + num(v * kBarW) +
           "\" height=\"" + num(kRowH - 8) + "\"/>\n";
    if (b.marker >= 0) {
      double mx = kLabelW + std::clamp(b.marker, 0.0, 1.0) * kBarW;
      svg += "<line class=\"baseline-marker\" data-value=\"" + fraction(b.marker) + "\" x1=\"" + num(mx) + "\" y1=\"" + num(y) +
             "\" x2=\"" + num(mx) + "\" y2=\"" + num(y + kRowH) + "\"/>\n";
    }
    svg += "<text x=\"" + num(kLabelW + kBarW + 8) + "\" y=\"" + num(y + 16) + "\" class=\"caption\">" + escapeMarkup(b.caption) + "</text>\n";
  }
  return svg + "</svg>\n";
}

std::string histogram(const std::string& id, const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<uint32_t>& counts) {
  constexpr double kLeft = 40, kTop = 42, kPlotH = 140, kPlotW = 680;  // room for the tallest count
  uint32_t peak = std::max<uint32_t>(1, counts.empty() ? 1 : *std::max_element(counts.begin(), counts.end()));
  double slot = counts.empty() ? kPlotW : kPlotW / counts.size();
  std::string svg = "<svg id=\"" + escapeMarkup(id) + "\" class=\"chart\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"" +
                    num(kTop + kPlotH + 40) + "\">\n<title>" + escapeMarkup(title) + "</title>\n<text x=\"0\" y=\"16\" class=\"chart-title\">" +
                    escapeMarkup(title) + "</text>\n";
  for (size_t i = 0; i < counts.size(); ++i) {
    double h = kPlotH * counts[i] / peak, x = kLeft + i * slot;
    svg += "<rect class=\"bar hist\" data-label=\"" + escapeMarkup(labels[i]) + "\" data-value=\"" + std::to_string(counts[i]) +
           "\" x=\"" + num(x + 2) + "\" y=\"" + num(kTop + kPlotH - h) + "\" width=\"" + num(slot - 4) + "\" height=\"" + num(h) + "\"/>\n";
    svg += "<text x=\"" + num(x + slot / 2) + "\" y=\"" + num(kTop + kPlotH + 16) + "\" class=\"axis\">" + escapeMarkup(labels[i]) + "</text>\n";
    if (counts[i]) svg += "<text x=\"" + num(x + slot / 2) + "\" y=\"" + num(kTop + kPlotH - h - 4) + "\" class=\"axis\">" + std::to_string(counts[i]) + "</text>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace outrigger::eval
