#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <string>

#include "common/utf8.h"

namespace outrigger {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
constexpr const char* kLevelNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void setLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
bool logEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void appendLogSafe(std::string* line, std::string_view text) {
  std::string repaired;
  if (!validUtf8(text)) text = repaired = utf8Replaced(text);
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b != 0x7F) {
      *line += c;
    } else if (c == '\n') {
      *line += "\\n";
    } else if (c == '\r') {
      *line += "\\r";
    } else if (c == '\t') {
      *line += c;  // a tab cannot start a line
    } else {
      char esc[8];
      snprintf(esc, sizeof esc, "\\x%02x", b);
      *line += esc;
    }
  }
}

void logLine(LogLevel level, std::string_view scope, std::string_view message) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char stamp[40];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string line;
  line.reserve(64 + scope.size() + message.size());
  line += stamp;
  char ms[8];
  snprintf(ms, sizeof ms, ".%03ldZ ", ts.tv_nsec / 1000000);
  line += ms;
  line += kLevelNames[static_cast<int>(level)];
  line += " [";
  appendLogSafe(&line, scope);
  line += "] ";
  appendLogSafe(&line, message);
  line += '\n';
  // One write(2) per line: atomic for pipes up to PIPE_BUF and never interleaved mid-line.
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace outrigger
