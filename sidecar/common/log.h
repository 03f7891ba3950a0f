// Process log: one line per call to stderr, written whole so threads never interleave.
#pragma once

#include <string_view>

namespace outrigger {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);
// `scope` names the component ("worker 1", "plugin input_rules").
void logLine(LogLevel level, std::string_view scope, std::string_view message);
// Appends `text` as one log line may carry it: line breaks and other control characters as
// escapes (\n, \r, \xNN), bytes that are not UTF-8 as U+FFFD. Messages quote what callers and
// upstreams send (a tenant, a model name); raw, a newline in one would forge a line of its own.
void appendLogSafe(std::string* line, std::string_view text);

#define ORLOG(level, scope, msg)                                            \
  do {                                                                      \
    if (::outrigger::logEnabled(level)) ::outrigger::logLine(level, scope, msg); \
  } while (0)

}  // namespace outrigger
