// A drift report over the trace store, as the CLI (`outrigger drift report`) and the admin server
// (/traces/drift, /traces/drift/metrics) both make it: the two windows loaded and compared, and
// the model events of the current window (looking back to the baseline's start).
#pragma once

#include <sqlite3.h>

#include <functional>
#include <string>
#include <vector>

#include "traces/drift.h"

namespace outrigger::traces {

struct DriftQuery {
  TraceFilter current;             // since/until set: the current window
  TraceFilter baseline;            // since/until set: the baseline window (ignored with an eval baseline)
  const DriftPopulation* eval_baseline = nullptr;  // an eval run's cases as the baseline instead
  std::string eval_source;         // its path, for the report
  DriftThresholds thresholds;
  EmbedTexts embed;                // empty: no centroid
  // Called with the loaded windows before they are compared (the baseline is null when it is an
  // eval run): the sampled judge fills in scores here. Its notes go into the report.
  std::function<std::vector<std::string>(DriftPopulation* baseline, DriftPopulation* current)> annotate;
  bool read_content = false;       // read captured prompts and answers (the centroid and the judge need them)
};

bool driftReportFromStore(sqlite3* db, const DriftQuery& q, const QueryLimits& limits, DriftReport* out,
                          std::string* error);

}  // namespace outrigger::traces
