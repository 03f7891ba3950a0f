// JSON Schema validation of plugin config (valijson over RapidJSON). The host validates every
// instance's config against its type's schema before calling create.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace outrigger::plugin {

struct ConfigSchema;

// Compiles a schema; INVALID_ARGUMENT with the reason when it is not valid JSON Schema.
Expected<std::shared_ptr<const ConfigSchema>> compileSchema(std::string_view schema_json);

// Validates `config_json`. On failure the message names the offending key and, through
// `lines` (JSON pointer -> "file:line"), where it is in the TOML.
Status validateConfig(const ConfigSchema& schema, std::string_view config_json,
                      const std::map<std::string, std::string>& lines);

}  // namespace outrigger::plugin
