#include "common/rate_limited_log.h"

#include "common/clock.h"

namespace outrigger {

void RateLimitedLog::write(LogLevel level, std::string_view scope, const std::string& message) {
  if (!logEnabled(level)) return;
  uint64_t suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t now = monoNowNs();
    if (now - window_start_ns_ >= 1000000000ull) {
      window_start_ns_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= per_second_) {
      ++suppressed_;
      return;
    }
    ++in_window_;
    suppressed = suppressed_;
    suppressed_ = 0;
  }
  if (suppressed) {
    logLine(level, scope, message + " (" + std::to_string(suppressed) + " similar lines suppressed)");
  } else {
    logLine(level, scope, message);
  }
}

}  // namespace outrigger
