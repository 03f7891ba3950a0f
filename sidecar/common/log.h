// Process log: one line per call to stderr, written whole so threads never interleave.
#pragma once

#include <string_view>

namespace outrigger {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);
// `scope` names the component ("worker 1", "plugin input_rules").
void logLine(LogLevel level, std::string_view scope, std::string_view message);

#define ORLOG(level, scope, msg)                                            \
  do {                                                                      \
    if (::outrigger::logEnabled(level)) ::outrigger::logLine(level, scope, msg); \
  } while (0)

}  // namespace outrigger
