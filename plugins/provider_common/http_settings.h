// The configuration every HTTP provider shares: key references (resolved here, used in turn),
// extra request headers, the four timeouts and the body bound. Read from the plugin's config
// object; the dialect-specific fields stay with each provider.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cassette.h"

namespace outrigger::providers {

struct HttpSettings {
  std::vector<std::string> keys;                             // resolved keys, used in turn
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  uint32_t connect_ms = 0, first_byte_ms = 0, idle_ms = 0, total_ms = 0;
  size_t max_body = 8 << 20;                                 // largest unary or error body kept
  CassetteSettings cassette;                                 // record / replay (cassette.h)
};

// api_key / api_keys (resolved through secret_ref.h; throws std::runtime_error "api key: ..."),
// headers, *_timeout_ms, max_body_bytes and cassette from `config` (a JSON object).
HttpSettings readHttpSettings(const rapidjson::Value& config);

// `text` of `config` as a string, or `def` when absent or not a string.
std::string configText(const rapidjson::Value& config, const char* key, std::string def = "");

// `key` of `config` as an unsigned number, or 0 when absent or not one.
uint32_t configUint(const rapidjson::Value& config, const char* key);

// ASCII lower case (header names and hint values).
std::string lowerAscii(std::string_view s);

}  // namespace outrigger::providers
