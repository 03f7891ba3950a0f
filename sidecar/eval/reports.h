// The run's reports. Each returns the whole document as text.
//   results JSON  machine-readable, also what --baseline reads back (baseline.h)
//   JUnit XML     one <testsuite> per target, one <testcase> per case: a failed scorer is a
//                 <failure>, an answer or scorer that could not run is an <error>
//   Markdown      a summary for a pull-request comment
//   HTML          a self-contained page (inline CSS and SVG charts, no external assets)
#pragma once

#include <string>

#include "eval/eval_types.h"

namespace outrigger::eval {

std::string resultsJson(const RunReport& run);
std::string junitXml(const RunReport& run);
std::string markdownReport(const RunReport& run);
std::string htmlReport(const RunReport& run);

// Text made safe for XML and HTML: bytes that are not UTF-8 replaced (U+FFFD), markup characters
// escaped, and characters XML 1.0 forbids (controls other than tab, newline and return) dropped.
std::string escapeMarkup(const std::string& text);

}  // namespace outrigger::eval
