// The trace store and the request filter as the store-reading commands take them (--db or the
// config's exporter.sqlite, --route ... --since --until), and the store's text as they print it:
// outrigger traces, eval capture, drift.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "traces/sqlite_statement.h"
#include "traces/trace_query.h"

namespace outrigger::cli {

// The store, opened read-only; nullptr after printing why. `command` names the command in messages.
traces::Database openStore(const Options& opt, const char* command);
// The filter from the options, with --since/--until resolved; false after printing why.
bool filterOf(const Options& opt, const char* command, traces::TraceFilter* f);
int64_t nowUnixNs();

// Text a caller chose (an answer, a reason, a tenant's or a route's name) as a terminal shows it
// harmlessly: control characters, C0 and C1 (the ESC that starts a sequence to clear the screen,
// move the cursor or set the clipboard), as \x.. escapes; newlines and tabs stay. Every table the
// store-reading commands print goes through it; --json leaves the text as is.
std::string printable(std::string_view text);

}  // namespace outrigger::cli
