// guardrail.pii's config: the JSON Schema the host validates against, and the parsed settings
// the guardrail runs with. Parsing is separate from the plugin so tests can build a detector
// from the same config text the daemon reads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "detector.h"
#include "redaction.h"

namespace outrigger::pii {

extern const char kPiiConfigSchema[];

enum class OnDetectorError : uint8_t { kDeny, kRedactAll };

struct PiiSettings {
  std::shared_ptr<const Detector> detector;
  RedactionPolicy request_policy;   // actions on the caller's messages
  RedactionPolicy response_policy;  // actions on the answer
  bool scan_request = true;
  bool scan_response = true;
  bool reversible = false;
  OnDetectorError on_error = OnDetectorError::kDeny;
  size_t max_candidates = 1000000;
  bool fail_scans_for_test = false;
};

// Parses a config object (already valid against kPiiConfigSchema) and compiles its patterns.
// Throws std::runtime_error naming the key when a value is unusable (an unknown entity in
// `actions`, a pattern Vectorscan refuses, an unknown phone region).
PiiSettings parsePiiSettings(std::string_view config_json);

}  // namespace outrigger::pii
