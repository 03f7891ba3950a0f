// Figures every report shows, computed one way.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "eval/eval_types.h"

namespace outrigger::eval {

// The q-quantile (0..1) of the answered cases' latency, in ms; 0 when none answered.
inline double latencyQuantile(const TargetResult& t, double q) {
  std::vector<double> ms;
  for (const auto& c : t.cases) {
    if (c.output.ok) ms.push_back(c.output.latency_ms);
  }
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  return ms[static_cast<size_t>(q * (ms.size() - 1) + 0.5)];
}

inline std::string percent(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", rate * 100);
  return buf;
}

// A signed difference in percentage points, "+3.3 pp".
inline std::string points(double delta) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f pp", delta * 100);
  return buf;
}

// The first gating reason a case did not pass: an answer error, a scorer error or a failure.
inline std::string whyNotPassed(const CaseResult& c) {
  if (!c.output.ok) return "no answer: " + c.output.error;
  for (const auto& s : c.scores) {
    if (s.gating && !s.error.empty()) return s.scorer + " could not run: " + s.error;
  }
  for (const auto& s : c.scores) {
    if (s.gating && !s.pass) return s.scorer + ": " + s.reason;
  }
  return "";
}

// What the gate said about a target, one sentence.
inline std::string gateSentence(const GateResult& g) {
  if (!g.compared) return "no baseline";
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%s: %+.1f pp vs baseline, 95%% interval [%+.1f, %+.1f] pp over %u paired cases, McNemar p = %.3g",
                g.regression ? "significant regression" : (g.delta < 0 ? "no significant change" : "no regression"),
                g.delta * 100, g.low * 100, g.high * 100, g.paired_cases, g.p_value);
  return buf;
}

}  // namespace outrigger::eval
