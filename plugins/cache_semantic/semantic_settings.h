// cache.semantic's settings: parsed once from the validated config (the JSON Schema below is the
// one the host checks the TOML against; README.md documents the same keys).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cache_scope.h"
#include "semantic_store.h"

namespace outrigger::semantic {

// Measured on tests/semantic/data (README.md, "Threshold"): the lowest threshold whose wrong
// hits stay at or under 1% of hits with the guard on, for the local WordLlama model.
inline constexpr double kDefaultThreshold = 0.95;

struct SemanticSettings {
  std::string embed_route;
  KeyText key_text = KeyText::kLastUser;
  double threshold = kDefaultThreshold;
  std::unordered_map<std::string, double> route_thresholds;
  uint64_t ttl_ms = 3600000;
  uint32_t embed_timeout_ms = 1000;
  bool guard = true;
  bool store_tool_answers = false;
  bool store_incomplete = false;
  StoreLimits limits;

  double thresholdFor(std::string_view route) const {
    auto it = route_thresholds.find(std::string(route));
    return it == route_thresholds.end() ? threshold : it->second;
  }
};

extern const char kSemanticSchema[];

// Throws std::runtime_error naming the key on a config the schema let through but this cannot use.
SemanticSettings parseSemanticSettings(std::string_view config_json);

}  // namespace outrigger::semantic
