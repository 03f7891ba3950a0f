// The one monotonic clock of the daemon: deadlines, spans and plugin timers all use it.
#pragma once

#include <chrono>
#include <cstdint>

namespace outrigger {

inline uint64_t monoNowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

inline uint64_t wallNowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace outrigger
