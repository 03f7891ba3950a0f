#include <cstdio>

#include "eval/report_stats.h"
#include "eval/reports.h"

namespace outrigger::eval {

namespace {

constexpr size_t kMaxListedCases = 20;

// A table cell: pipes and newlines would break the row.
std::string cell(std::string text) {
  std::string out;
  for (char ch : text) {
    if (ch == '|') out += "\\|";
    else if (ch == '\n' || ch == '\r') out += ' ';
    else out += ch;
  }
  return out.size() > 160 ? out.substr(0, 157) + "..." : out;
}

std::string money(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%.4f", usd);
  return buf;
}

std::string targetSection(const TargetReport& tr) {
  const TargetResult& t = tr.result;
  std::string md = "\n### " + cell(t.name) + " (route `" + cell(t.route) + "`)\n\n" + gateSentence(tr.gate) + "\n\n";
  md += "| tag | pass rate | passed | baseline |\n| --- | ---: | ---: | ---: |\n";
  for (const auto& [name, s] : tr.tags) {
    double rate = s.total ? static_cast<double>(s.passed) / s.total : 0;
    md += "| " + cell(name) + " | " + percent(rate) + " | " + std::to_string(s.passed) + "/" + std::to_string(s.total) +
          " | " + (s.baseline_rate < 0 ? "-" : percent(s.baseline_rate) + " (" + points(rate - s.baseline_rate) + ")") + " |\n";
  }
  if (!tr.gate.changes.empty()) {
    md += "\n<details><summary>" + std::to_string(tr.gate.changes.size()) + " cases changed</summary>\n\n| case | before | after |\n| --- | --- | --- |\n";
    for (const auto& c : tr.gate.changes) md += "| " + cell(c.id) + " | " + c.before + " | " + c.after + " |\n";
    md += "\n</details>\n";
  }
  size_t listed = 0;
  std::string failing;
  for (const auto& c : t.cases) {
    if (c.status == CaseStatus::kPass || listed++ >= kMaxListedCases) continue;
    failing += "| " + cell(c.input->id) + " | " + caseStatusName(c.status) + " | " + cell(whyNotPassed(c)) + " |\n";
  }
  if (!failing.empty()) md += "\n| case | status | why |\n| --- | --- | --- |\n" + failing;
  return md;
}

}  // namespace

std::string markdownReport(const RunReport& run) {
  std::string md = "## Eval: " + cell(run.name) + " — " + run.verdict + "\n\n";
  md += "| target | pass rate | passed | failed | errors | vs baseline | cost | p50 latency |\n";
  md += "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n";
  for (const auto& tr : run.targets) {
    const TargetResult& t = tr.result;
    char latency[32];
    std::snprintf(latency, sizeof latency, "%.0f ms", latencyQuantile(t, 0.5));
    std::string vs = tr.gate.compared ? points(tr.gate.delta) + (tr.gate.regression ? " (regression)" : "") : "-";
    md += "| " + cell(t.name) + " | " + percent(t.passRate()) + " | " + std::to_string(t.passed) + " | " +
          std::to_string(t.failed) + " | " + std::to_string(t.errors) + " | " + vs + " | " + money(t.cost_usd) + " | " +
          latency + " |\n";
  }
  for (const auto& note : run.notes) md += "\n> " + cell(note) + "\n";
  for (const auto& tr : run.targets) md += targetSection(tr);
  return md;
}

}  // namespace outrigger::eval
