// The two encodings OTLP/HTTP defines for a request body: protobuf (the binary one every
// receiver must take) and JSON (the protobuf messages mapped to JSON, with hex ids).
#pragma once

#include <cstdint>

namespace outrigger::otlp {

// Stored in the spool's batch headers: the values must not change.
enum class Encoding : uint8_t { kJson = 0, kProtobuf = 1 };

inline const char* contentType(Encoding e) {
  return e == Encoding::kProtobuf ? "application/x-protobuf" : "application/json";
}

}  // namespace outrigger::otlp
