// A change of the model or system fingerprint an upstream reports for a target: the provider
// swapped the model behind an alias ("gpt-4o" now answers as another snapshot) or changed its
// serving configuration. Read from the provider attempts' spans in the trace store.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include "traces/trace_query.h"

namespace outrigger::traces {

struct ModelEvent {
  std::string route, target;
  std::string kind;  // "model" (gen_ai.response.model) or "system_fingerprint"
  std::string from, to;
  int64_t at_unix_ns = 0;
  std::string trace_id;  // the first request answered with `to`
};

// The changes in [filter.since, filter.until) for the routes `filter` selects, oldest first.
// What each target reported last before `since` (back to `look_back_from_ns`) counts as the
// value a change is from, so a change at the window's start is seen.
bool loadModelEvents(sqlite3* db, const TraceFilter& filter, int64_t look_back_from_ns, const QueryLimits& limits,
                     std::vector<ModelEvent>* out, std::string* error);

}  // namespace outrigger::traces
