// The requests a drift report compares, reduced to what it compares: read from the trace store
// for a window, or from an eval run's results JSON (`outrigger eval run --json`), so a pinned
// period or an evaluation can be the baseline.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "traces/trace_query.h"

namespace outrigger::traces {

struct DriftSample {
  std::string route, prompt;  // prompt: "id@version", "" when the request named none
  bool error = false, refusal = false;
  double answer_tokens = 0, latency_ms = 0;
  std::vector<std::string> verdicts;  // "guardrail/verdict" for every verdict other than pass
  std::optional<double> feedback;     // the mean user feedback score, when any
  std::optional<double> judge;        // an eval judge's score, when the baseline is an eval run
  std::string answer;                 // the captured answer text, "" when the route captures none
  std::string prompt_text;            // the captured prompt as "[role] content" lines, likewise
};

struct DriftPopulation {
  std::vector<DriftSample> samples;
  // An eval run knows no guardrail verdicts or refusals: those signals are not compared.
  bool verdicts_known = true, refusals_known = true;
  uint64_t sampled_one_in = 1;  // a window larger than the cap is read one request in this many
};

// Windows beyond this many requests are sampled evenly (by request id): the statistics need
// thousands, not millions, and a day of a busy route would not fit in memory otherwise.
constexpr uint64_t kMaxDriftWindowRequests = 200000;

// The requests `filter` selects (cache hits included: they are answers users got), oldest first.
// Captured prompts and answers are read too (for the centroid and the judge) when `with_answers`.
bool loadDriftWindow(sqlite3* db, const TraceFilter& filter, const QueryLimits& limits, bool with_answers,
                     DriftPopulation* out, std::string* error, uint64_t max_requests = kMaxDriftWindowRequests);

// The cases of an eval run's results (JSON text) as samples: every target of the run whose route
// is `route` (all of them when `route` is empty). Judge scores are the scores of scorers named
// or typed "judge...".
bool loadEvalBaseline(const std::string& results_json, const std::string& route, DriftPopulation* out,
                      std::string* error);

}  // namespace outrigger::traces
