// The trace store and the request filter as the store-reading commands take them (--db or the
// config's exporter.sqlite, --route ... --since --until): outrigger traces, eval capture, drift.
#pragma once

#include <cstdint>

#include "cli/commands.h"
#include "traces/sqlite_statement.h"
#include "traces/trace_query.h"

namespace outrigger::cli {

// The store, opened read-only; nullptr after printing why. `command` names the command in messages.
traces::Database openStore(const Options& opt, const char* command);
// The filter from the options, with --since/--until resolved; false after printing why.
bool filterOf(const Options& opt, const char* command, traces::TraceFilter* f);
int64_t nowUnixNs();

}  // namespace outrigger::cli
