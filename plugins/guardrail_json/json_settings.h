// guardrail.json's config. One table (kConfigKeys) lists every key with its JSON Schema and its
// description: the schema the host validates against is assembled from it, and a test checks
// that the README documents each key. Parsing is here too, apart from the plugin, so tests build
// settings from the same text the daemon reads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "answer_check.h"
#include "schema_check.h"

namespace outrigger::jsonguard {

struct ConfigKey {
  const char* name;
  const char* schema;       // the key's JSON Schema
  const char* description;  // what it does, with its default
};

extern const ConfigKey kConfigKeys[];
extern const size_t kConfigKeyCount;

// The config's JSON Schema, built from kConfigKeys.
const std::string& configSchema();

enum class OnTruncated : uint8_t { kDeny, kContinue };
enum class StreamMode : uint8_t { kHold, kCheckAtEnd };

struct JsonSettings {
  std::shared_ptr<const CompiledSchema> schema;  // the configured schema; null when none
  bool request_schemas = true;
  bool tool_calls = true;
  CheckSettings check;
  uint32_t max_reasks = 1;
  int32_t deny_code = 9;  // OUTRIGGER_CODE_FAILED_PRECONDITION (an outrigger_code)
  OnTruncated on_truncated = OnTruncated::kDeny;
  StreamMode streaming = StreamMode::kHold;
  std::string repair_prompt = kDefaultRepairPrompt;
  SchemaLimits limits;
  size_t schema_cache = 64;
  size_t max_quote = 4096;
};

// Parses a config object (already valid against configSchema()). Throws std::runtime_error
// naming the key when a value is unusable (a configured schema valijson refuses).
JsonSettings parseJsonSettings(std::string_view config_json);

}  // namespace outrigger::jsonguard
