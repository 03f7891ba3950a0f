// A baseline: an earlier run's results JSON (as results_json.h writes it), read back for the
// regression gate and the per-case and per-tag comparisons.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "eval/eval_types.h"

namespace outrigger::eval {

struct BaselineCase {
  std::string status;  // pass, fail, error
  std::vector<std::string> tags;
};
// target name -> case id -> outcome
using Baseline = std::map<std::string, std::map<std::string, BaselineCase>>;

[[nodiscard]] bool readBaseline(const std::string& path, Baseline* out, std::string* error);

// Compares `result` with the baseline's cases of the same target: per-case changes (new and
// removed cases included), and the
// gate over the cases that have an answer in both runs: a regression when more of them went from
// pass to fail than back and the exact McNemar test gives p < 0.05; the paired bootstrap's 95%
// interval of the change is reported with it.
GateResult compareWithBaseline(const TargetResult& result, const std::map<std::string, BaselineCase>& baseline);

// Pass counts per tag (every case counts under each of its tags, and under "(all)"), with the
// baseline's pass rate for the tag when there is a baseline.
std::map<std::string, TagStats> tagBreakdown(const TargetResult& result, const std::map<std::string, BaselineCase>* baseline);

}  // namespace outrigger::eval
