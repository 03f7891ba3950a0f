// Sampled judging of stored traffic: an LLM judge grades a sample of captured answers through a
// running sidecar's judge route, for `outrigger drift report` (each window) and `outrigger
// traces arms` (each arm), so answer quality is compared like errors and latency. Bounded three
// ways: at most `sample` answers per group (spread evenly over it), at most `per_second` judge
// calls, and a USD budget: once the judge's answers (priced by the sidecar) cost that much, no
// more calls are made and the notes say how many were left ungraded. Grades are kept in the eval
// judge cache, so a re-run over the same traffic costs nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace outrigger::cli {

struct SampledJudging {
  std::string socket;  // the sidecar; empty: as `outrigger chat`
  std::string route, rubric, cache_path;
  uint32_t sample = 50;
  double per_second = 5;
  double budget_usd = 0.5;
  uint32_t timeout_ms = 30000;
};

// One captured answer to grade; `score` is filled when it is.
struct JudgeItem {
  const std::string* prompt_text;  // the conversation as "[role] content" lines
  const std::string* answer;
  std::optional<double>* score;
};

struct JudgingTally {
  uint32_t graded = 0, cached = 0, failed = 0, over_budget = 0;
  double spent_usd = 0;
};

// The judging the options ask for (--judge-route and its companions); false after printing why.
bool sampledJudgingOf(const Options& opt, const char* command, SampledJudging* out);

// Grades up to `sample` items of each group; returns notes for the report.
std::vector<std::string> judgeSamples(const SampledJudging& judging, const std::vector<std::vector<JudgeItem>>& groups,
                                      JudgingTally* tally);

}  // namespace outrigger::cli
