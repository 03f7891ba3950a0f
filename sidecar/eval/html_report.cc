// The HTML report: one self-contained page (inline CSS, inline SVG charts, a few lines of
// script to filter the case tables), so it can be archived as a CI artifact and opened offline.
#include <cmath>
#include <cstdio>

#include "eval/report_stats.h"
#include "eval/reports.h"
#include "eval/svg_chart.h"

namespace outrigger::eval {

namespace {

constexpr const char* kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d232b}
h1 span.pass{color:#1a7f37}h1 span.regression,h1 span.fail{color:#cf222e}h1 span.inconclusive{color:#9a6700}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
tr.fail td.status{color:#cf222e;font-weight:600}tr.error td.status{color:#9a6700;font-weight:600}tr.pass td.status{color:#1a7f37}
.chart .bar{fill:#0969da}.chart .bar.low{fill:#cf222e}.chart .bar.hist{fill:#8250df}.chart .grid{stroke:#d0d7de}
.chart .baseline-marker{stroke:#1d232b;stroke-width:2;stroke-dasharray:3 2}.chart text{font-size:12px}
.chart .label{text-anchor:end}.chart .axis{text-anchor:middle;fill:#57606a}.chart .chart-title{font-weight:600}
.score.ok{color:#1a7f37}.score.bad{color:#cf222e}.score.err{color:#9a6700}.note{background:#fff8c5;padding:6px 10px}
pre{white-space:pre-wrap;max-width:60ch;margin:0}
)";

constexpr const char* kScript = R"(
for (const bar of document.querySelectorAll('.filters')) {
  bar.addEventListener('change', (e) => {
    const table = document.getElementById(bar.dataset.table), want = e.target.value;
    let shown = 0;
    for (const row of table.querySelectorAll('tr.case')) {
      const show = want === 'all' || row.classList.contains(want);
      row.hidden = !show; shown += show;
    }
    bar.querySelector('.shown').textContent = shown;
  });
}
document.body.dataset.ready = 'yes';
)";

std::string h(const std::string& s) { return escapeMarkup(s); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string passRateChart(const RunReport& run) {
  std::vector<Bar> bars;
  for (const auto& tr : run.targets) {
    const TargetResult& t = tr.result;
    bars.push_back({t.name, t.passRate(), tr.gate.compared ? tr.gate.baseline_pass_rate : -1,
                    percent(t.passRate()) + " (" + std::to_string(t.passed) + "/" + std::to_string(t.cases.size()) + ")",
                    tr.gate.regression ? "low" : ""});
  }
  return horizontalBars("chart-pass-rate", "Pass rate per target (dashed: baseline)", bars);
}

std::string tagChart(const TargetReport& tr, size_t index) {
  std::vector<Bar> bars;
  for (const auto& [name, s] : tr.tags) {
    double rate = s.total ? static_cast<double>(s.passed) / s.total : 0;
    bars.push_back({name, rate, s.baseline_rate, percent(rate) + " (" + std::to_string(s.passed) + "/" + std::to_string(s.total) + ")", ""});
  }
  return horizontalBars("chart-tags-" + std::to_string(index), "Pass rate per tag: " + tr.result.name, bars);
}

// Latency buckets doubling from 10 ms: <10, <20, <40 ... and the rest.
std::string latencyChart(const TargetResult& t, size_t index) {
  constexpr int kBuckets = 9;
  std::vector<uint32_t> counts(kBuckets, 0);
  std::vector<std::string> labels;
  for (int i = 0; i < kBuckets - 1; ++i) labels.push_back("<" + std::to_string(10 << i) + "ms");
  labels.push_back(">=" + std::to_string(10 << (kBuckets - 2)) + "ms");
  for (const auto& c : t.cases) {
    if (!c.output.ok) continue;
    int b = 0;
    while (b < kBuckets - 1 && c.output.latency_ms >= (10 << b)) ++b;
    counts[b]++;
  }
  return histogram("chart-latency-" + std::to_string(index), "Latency: " + t.name, labels, counts);
}

std::string scoreCell(const CaseResult& c) {
  if (!c.output.ok) return "<span class=\"score err\">" + h(c.output.error) + "</span>";
  std::string cell;
  for (const auto& s : c.scores) {
    const char* cls = !s.error.empty() ? "err" : (s.pass ? "ok" : "bad");
    cell += "<div class=\"score " + std::string(cls) + "\" data-scorer=\"" + h(s.scorer) + "\" title=\"" +
            h(s.error.empty() ? s.reason : s.error) + "\">" + h(s.scorer) + " " + fmt("%.2f", s.score) +
            (s.gating ? "" : " (not gating)") + ": " + h(s.error.empty() ? s.reason : s.error) + "</div>";
  }
  return cell;
}

// The answer's text, then its tool calls as name(arguments).
std::string outputCell(const CaseOutput& out) {
  std::string text = out.content.substr(0, 2000);
  for (const auto& t : out.tool_calls) text += (text.empty() ? "" : "\n") + t.name + "(" + t.arguments.substr(0, 500) + ")";
  return "<pre>" + h(text) + "</pre>";
}

std::string caseTable(const TargetResult& t, size_t index) {
  std::string id = "cases-" + std::to_string(index);
  std::string x = "<form class=\"filters\" data-table=\"" + id + "\">Show <label><input type=\"radio\" name=\"f\" value=\"all\" checked> all</label> "
                  "<label><input type=\"radio\" name=\"f\" value=\"fail\"> failed</label> <label><input type=\"radio\" name=\"f\" value=\"error\"> errors</label>"
                  " (<span class=\"shown\">" + std::to_string(t.cases.size()) + "</span> shown)</form>\n";
  x += "<table id=\"" + id + "\"><tr><th>case</th><th>status</th><th>tags</th><th>latency</th><th>cost</th><th>scores</th><th>output</th></tr>\n";
  for (const auto& c : t.cases) {
    std::string tags;
    for (const auto& tag : c.input->tags) tags += (tags.empty() ? "" : ", ") + h(tag);
    x += "<tr class=\"case " + std::string(caseStatusName(c.status)) + "\" data-case=\"" + h(c.input->id) + "\"><td>" + h(c.input->id) +
         "</td><td class=\"status\">" + caseStatusName(c.status) + "</td><td>" + tags + "</td><td>" + fmt("%.0f ms", c.output.latency_ms) +
         "</td><td>" + fmt("$%.6f", c.output.cost_usd) + "</td><td>" + scoreCell(c) + "</td><td>" + outputCell(c.output) + "</td></tr>\n";
  }
  return x + "</table>\n";
}

std::string changesTable(const GateResult& g) {
  if (g.changes.empty()) return "";
  std::string x = "<table class=\"changes\"><tr><th>case</th><th>baseline</th><th>now</th></tr>\n";
  for (const auto& c : g.changes) x += "<tr><td>" + h(c.id) + "</td><td>" + h(c.before) + "</td><td>" + h(c.after) + "</td></tr>\n";
  return x + "</table>\n";
}

}  // namespace

std::string htmlReport(const RunReport& run) {
  std::string x = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Eval: " + h(run.name) +
                  "</title>\n<style>" + kStyle + "</style></head>\n<body>\n";
  x += "<h1 id=\"verdict\" data-verdict=\"" + h(run.verdict) + "\">Eval " + h(run.name) + ": <span class=\"" + h(run.verdict) + "\">" +
       h(run.verdict) + "</span></h1>\n<p id=\"run-meta\">Started " + h(run.started_at) + ", " + fmt("%.1f s", run.duration_s) +
       ", judge calls " + std::to_string(run.judge_calls) + ", judge cache hits " + std::to_string(run.judge_cache_hits) + ".</p>\n";
  for (const auto& note : run.notes) x += "<p class=\"note\">" + h(note) + "</p>\n";
  x += "<table id=\"summary\"><tr><th>target</th><th>route</th><th>pass rate</th><th>passed</th><th>failed</th><th>errors</th><th>gate</th><th>cost</th><th>p50</th><th>p95</th></tr>\n";
  for (const auto& tr : run.targets) {
    const TargetResult& t = tr.result;
    x += "<tr data-target=\"" + h(t.name) + "\"><td>" + h(t.name) + "</td><td>" + h(t.route) + "</td><td class=\"pass-rate\">" + percent(t.passRate()) +
         "</td><td>" + std::to_string(t.passed) + "</td><td>" + std::to_string(t.failed) + "</td><td>" + std::to_string(t.errors) +
         "</td><td class=\"gate\">" + h(gateSentence(tr.gate)) + "</td><td>" + fmt("$%.6f", t.cost_usd) + "</td><td>" +
         fmt("%.0f ms", latencyQuantile(t, 0.5)) + "</td><td>" + fmt("%.0f ms", latencyQuantile(t, 0.95)) + "</td></tr>\n";
  }
  x += "</table>\n" + passRateChart(run);
  for (size_t i = 0; i < run.targets.size(); ++i) {
    const TargetReport& tr = run.targets[i];
    x += "<h2>" + h(tr.result.name) + "</h2>\n" + tagChart(tr, i) + latencyChart(tr.result, i) + changesTable(tr.gate) + caseTable(tr.result, i);
  }
  return x + "<script>" + kScript + "</script>\n</body></html>\n";
}

}  // namespace outrigger::eval
