// Bounds how often one kind of log line is written, so that a flood of refusals or accept
// errors cannot flood the log too. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/log.h"

namespace outrigger {

class RateLimitedLog {
 public:
  // At most `per_second` lines of this kind each second; the rest are counted and the count is
  // appended to the next line that is written.
  explicit RateLimitedLog(uint32_t per_second = 5) : per_second_(per_second) {}

  void write(LogLevel level, std::string_view scope, const std::string& message);

 private:
  std::mutex mutex_;
  const uint32_t per_second_;
  uint64_t window_start_ns_ = 0;
  uint32_t in_window_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace outrigger
