#include <cstdio>

#include "common/utf8.h"
#include "eval/conversation.h"
#include "eval/report_stats.h"
#include "eval/reports.h"

namespace outrigger::eval {

namespace {

std::string attr(const std::string& name, const std::string& value) { return " " + name + "=\"" + escapeMarkup(value) + "\""; }

std::string seconds(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ms / 1000);
  return buf;
}

// Every scorer's verdict, for the body of a <failure> or <error>.
std::string scoreLines(const CaseResult& c) {
  std::string text;
  for (const auto& s : c.scores) {
    text += s.scorer + ": " + (s.error.empty() ? (s.pass ? "pass" : "FAIL") : "ERROR") + " score " +
            std::to_string(s.score).substr(0, 5) + " " + (s.error.empty() ? s.reason : s.error) +
            (s.gating ? "" : " (not gating)") + "\n";
  }
  return text;
}

std::string testcase(const TargetResult& t, const CaseResult& c) {
  std::string x = "    <testcase" + attr("classname", "eval." + t.name) + attr("name", c.input->id) +
                  attr("time", seconds(c.output.latency_ms)) + ">\n";
  if (c.status == CaseStatus::kFail) {
    x += "      <failure" + attr("message", whyNotPassed(c)) + attr("type", "scorer") + ">" + escapeMarkup(scoreLines(c)) + "</failure>\n";
  } else if (c.status == CaseStatus::kError) {
    x += "      <error" + attr("message", whyNotPassed(c)) + attr("type", c.output.ok ? "scorer" : "request") + ">" +
         escapeMarkup(c.output.ok ? scoreLines(c) : c.output.error) + "</error>\n";
  }
  // A simulated conversation shows its whole transcript; a dataset case, its answer.
  std::string shown = c.turns.empty() ? c.output.content : transcriptText(c.turns);
  x += "      <system-out>" + escapeMarkup(shown) + "</system-out>\n";
  return x + "    </testcase>\n";
}

}  // namespace

std::string escapeMarkup(const std::string& raw) {
  // Bytes that are not UTF-8 (a command's output, a cut in the middle of a character) make the
  // whole document unreadable to an XML parser: each becomes U+FFFD.
  const std::string text = validUtf8(raw) ? raw : utf8Replaced(raw);
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        if (ch >= 0x20 || ch == '\t' || ch == '\n' || ch == '\r') out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string junitXml(const RunReport& run) {
  size_t tests = 0, failures = 0, errors = 0;
  for (const auto& t : run.targets) tests += t.result.cases.size(), failures += t.result.failed, errors += t.result.errors;
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites" + attr("name", run.name) +
                  attr("tests", std::to_string(tests)) + attr("failures", std::to_string(failures)) +
                  attr("errors", std::to_string(errors)) + attr("time", seconds(run.duration_s * 1000)) + ">\n";
  for (const auto& tr : run.targets) {
    const TargetResult& t = tr.result;
    double ms = 0;
    for (const auto& c : t.cases) ms += c.output.latency_ms;
    x += "  <testsuite" + attr("name", t.name) + attr("tests", std::to_string(t.cases.size())) +
         attr("failures", std::to_string(t.failed)) + attr("errors", std::to_string(t.errors)) + attr("skipped", "0") +
         attr("time", seconds(ms)) + attr("timestamp", run.started_at) + ">\n";
    x += "    <properties>\n      <property" + attr("name", "route") + attr("value", t.route) + "/>\n      <property" +
         attr("name", "gate") + attr("value", gateSentence(tr.gate)) + "/>\n    </properties>\n";
    for (const auto& c : t.cases) x += testcase(t, c);
    x += "  </testsuite>\n";
  }
  return x + "</testsuites>\n";
}

}  // namespace outrigger::eval
