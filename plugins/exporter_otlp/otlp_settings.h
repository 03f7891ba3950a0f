// exporter.otlp's configuration: the JSON Schema the host validates the TOML subtree against,
// and the settings parsed from it. README.md documents each key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "otlp_encoding.h"

namespace outrigger::otlp {

extern const char kConfigSchema[];

struct OtlpSettings {
  std::string endpoint;  // base URL, no trailing slash; POSTs go to endpoint + "/v1/traces" ...
  std::vector<std::pair<std::string, std::string>> headers;  // values resolved (file: references read)
  std::string service_name = "outrigger";
  std::vector<std::pair<std::string, std::string>> resource_attributes;
  uint32_t batch_spans = 512;
  uint32_t flush_interval_ms = 1000;
  uint64_t max_queue_spans = 65536;
  uint64_t max_queue_bytes = 64ull << 20;
  uint32_t max_in_flight = 4;
  uint32_t timeout_ms = 10000;
  uint32_t max_backoff_ms = 30000;
  Encoding encoding = Encoding::kProtobuf;
  bool gzip = true;  // unset in the config: off for a loopback endpoint, on for any other
  std::string spool_path;  // empty: no spool
  uint64_t spool_max_bytes = 256ull << 20;
  bool metrics = true;
  uint32_t metrics_interval_ms = 60000;
};

// Parses a config the host validated against kConfigSchema. False with a message that names
// the key (never a header's value) when a value cannot be used.
bool parseSettings(std::string_view config_json, OtlpSettings* out, std::string* error);

// True when `url`'s host is this machine (localhost, 127.0.0.0/8, ::1): a collector next to the
// sidecar, where compressing costs CPU and saves nothing.
bool loopbackEndpoint(std::string_view url);

}  // namespace outrigger::otlp
