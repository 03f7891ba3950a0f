// The process log: one line per message, whatever the message quotes.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>

#include "common/log.h"

using namespace outrigger;

namespace {

// What logLine writes to stderr for one message.
std::string loggedLine(std::string_view scope, std::string_view message) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(pipe_fds[1], STDERR_FILENO);
  logLine(LogLevel::kWarn, scope, message);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(pipe_fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  ::close(pipe_fds[0]);
  return out;
}

}  // namespace

TEST_CASE("log: a message quoting a newline, control characters or bytes that are not UTF-8 stays one line") {
  std::string forged = "tenant 'x'\n2026-12-06T22:00:00.000Z error [admin] FORGED\r\x1b[31m\x7f\xff";
  std::string line = loggedLine("ipc\nscope", forged);
  REQUIRE_FALSE(line.empty());
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);  // one line
  CHECK(line.find(" warn [ipc\\nscope] tenant 'x'\\n2026-12-06T22:00:00.000Z error [admin] FORGED\\r\\x1b[31m\\x7f\xEF\xBF\xBD\n") !=
        std::string::npos);
}

TEST_CASE("log: ordinary text, tabs and multi-byte characters go out as they are") {
  std::string out;
  appendLogSafe(&out, "caf\xC3\xA9 \xE2\x82\xAC\tok");
  CHECK(out == "caf\xC3\xA9 \xE2\x82\xAC\tok");
}
