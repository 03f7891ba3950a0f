// A drift report over the trace store, as the CLI (`outrigger drift report`) and the admin server
// (/traces/drift, /traces/drift/metrics) both make it: the two windows loaded and compared, and
// the model events of the current window (looking back to the baseline's start).
#pragma once

#include <sqlite3.h>

#include <string>

#include "traces/drift.h"

namespace outrigger::traces {

struct DriftQuery {
  TraceFilter current;             // since/until set: the current window
  TraceFilter baseline;            // since/until set: the baseline window (ignored with an eval baseline)
  const DriftPopulation* eval_baseline = nullptr;  // an eval run's cases as the baseline instead
  std::string eval_source;         // its path, for the report
  DriftThresholds thresholds;
  EmbedTexts embed;                // empty: no centroid (and captured answers are not read)
};

bool driftReportFromStore(sqlite3* db, const DriftQuery& q, const QueryLimits& limits, DriftReport* out,
                          std::string* error);

}  // namespace outrigger::traces
