// What a reload cannot change in a running daemon. Routes, instances and prices are rebuilt on
// reload; the listeners, workers, exporter thread, metrics and alerts are set up once at start,
// so a change to their sections is reported and left for a restart.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace outrigger::config {

// What `outrigger serve` flags set over the file. Applied at start and again to each reloaded
// file, so a reload compares like with like instead of reporting the flags as a change.
struct ServerOverrides {
  std::string socket_path;  // --socket; empty: the file's
  std::optional<uint32_t> workers;  // --workers (0: one per core); unset: the file's
  void applyTo(ServerSettings* server) const;
};

// The restart-only sections ("[server]", "[http]", "[admin]", "[exporter]", "[metrics]",
// "[alerts]") whose settings differ between `running` and `next`, in that order. Where a setting
// sits in the file (its line) is not a change.
std::vector<std::string> restartOnlyChanges(const Settings& running, const Settings& next);

}  // namespace outrigger::config
