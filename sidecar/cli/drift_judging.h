// Sampled judging for `outrigger drift report --judge-route`: an LLM judge grades a sample of
// each window's captured answers through a running sidecar's judge route, so a drop in answer
// quality shows as a judge_score drift before users report it. Bounded three ways: at most
// `sample` answers per window (spread evenly over it), at most `per_second` judge calls, and a
// USD budget: once the judge's answers (priced by the sidecar) cost that much, no more calls are
// made and the report says how many were left ungraded. Grades are kept in the eval judge cache,
// so a report re-run over the same windows costs nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "traces/drift_population.h"

namespace outrigger::cli {

struct DriftJudging {
  std::string socket;  // the sidecar; empty: as `outrigger chat`
  std::string route, rubric, cache_path;
  uint32_t sample = 50;
  double per_second = 5;
  double budget_usd = 0.5;
  uint32_t timeout_ms = 30000;
};

struct JudgingTally {
  uint32_t graded = 0, cached = 0, failed = 0, over_budget = 0;
  double spent_usd = 0;
};

// Grades the samples of both windows (the baseline may be null); returns the report's notes.
std::vector<std::string> judgeWindows(const DriftJudging& judging, traces::DriftPopulation* baseline,
                                      traces::DriftPopulation* current, JudgingTally* tally);

}  // namespace outrigger::cli
