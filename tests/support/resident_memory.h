// This process's resident memory, for tests that hold a structure to the memory it claims.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>

namespace outrigger::testing {

inline size_t residentBytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

// What the resident memory grew by since `before` (0 if it shrank).
inline size_t grownSince(size_t before) {
  size_t now = residentBytes();
  return now > before ? now - before : 0;
}

// Sanitizers' shadow and quarantine memory count in RSS: bounds on growth hold for plain builds.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kRssMeasurable = false;
#else
inline constexpr bool kRssMeasurable = true;
#endif

}  // namespace outrigger::testing
