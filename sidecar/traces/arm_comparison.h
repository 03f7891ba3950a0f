// The arms of a route that splits its traffic (weighted targets, a canary), compared by outcome.
// With a grader (the CLI's sampled judge), each arm's captured answers get judge scores too.
// A request belongs to the arm its first provider attempt went to: that is what the split
// decided, whatever a fallback did next. Each arm gets its error and refusal rates (Wilson 95%
// intervals), its mean cost, latency and user feedback score (bootstrap 95% intervals), and its
// difference from the baseline arm (the busiest) with a 95% interval: a difference is
// significant when its interval leaves out 0. Cache hits and requests refused before any
// attempt belong to no arm.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "traces/statistics.h"
#include "traces/trace_query.h"

namespace outrigger::traces {

struct ArmRow {
  std::string arm;  // "instance/model" of the first attempt
  uint64_t requests = 0;
  Estimate error_rate, refusal_rate, cost_usd, latency_ms, feedback, judge;
  double p50_ms = 0, p95_ms = 0;
  bool baseline = false;
  Difference error_rate_diff, refusal_rate_diff, cost_diff, latency_diff, feedback_diff, judge_diff;  // not for the baseline
};

// A captured answer of an arm, for a grader to score.
struct ArmAnswer {
  std::string prompt_text, answer;  // prompt as "[role] content" lines
  std::optional<double> judge;
};
// Called with each arm's answered requests (in the arms' name order) before the arms are
// compared; sets `judge` on those it grades and returns notes.
using GradeArms = std::function<std::vector<std::string>(std::vector<std::vector<ArmAnswer*>>& per_arm)>;

// The arms of the requests `filter` selects (name a route), the baseline first.
bool compareArms(sqlite3* db, const TraceFilter& filter, const QueryLimits& limits, std::vector<ArmRow>* out,
                 std::string* error, const GradeArms& grade = {}, std::vector<std::string>* notes = nullptr);

}  // namespace outrigger::traces
