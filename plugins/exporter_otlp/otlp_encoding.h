// The two encodings OTLP/HTTP defines for a request body: protobuf (the binary one every
// receiver must take) and JSON (the protobuf messages mapped to JSON, with hex ids), and what
// both write the same way: span kinds and status codes, which attributes are typed, ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace outrigger::otlp {

// The plugin's version: its library's, and the instrumentation scope's in every payload.
inline constexpr char kPluginVersion[] = "1.0.0";

// Stored in the spool's batch headers: the values must not change.
enum class Encoding : uint8_t { kJson = 0, kProtobuf = 1 };
inline constexpr Encoding kLastEncoding = Encoding::kProtobuf;  // a higher stored value: a newer build's

inline const char* contentType(Encoding e) {
  return e == Encoding::kProtobuf ? "application/x-protobuf" : "application/json";
}

// OTLP SpanKind and Status.code values.
enum class SpanKind : int { kInternal = 1, kServer = 2, kClient = 3 };
enum class StatusCode : int { kUnset = 0, kOk = 1, kError = 2 };

// How an attribute's text value is typed on the wire. The host hands every span attribute over
// as text; the names whose convention says int, double or bool are written as such.
enum class AttrType { kString, kInt, kDouble, kBool };

// The type a span attribute key is written with: the GenAI token counts are ints, cost is a
// double, outrigger.cache.hit a bool; everything else a string.
AttrType attributeType(std::string_view key);

// Resource or metric attributes given by configuration: plain strings.
using StringAttributes = std::vector<std::pair<std::string, std::string>>;

// The resource of every request in `encoding`: resourceJson's object or a Resource message.
std::string encodedResource(Encoding encoding, std::string_view service_name, const StringAttributes& attributes);

// True for `n` lowercase (or uppercase) hex digits that are not all zero: an OTLP trace id
// (n = 32) or span id (n = 16).
bool isHexId(std::string_view id, size_t n);

// The whole of `text` as a decimal integer, or a finite number.
bool parseIntText(std::string_view text, int64_t* out);
bool parseDoubleText(std::string_view text, double* out);

// An attribute given as text, written as attributeType(key) says, or as a string when it does
// not parse as that type, by any attribute writer with stringAttribute, intAttribute,
// doubleAttribute and boolAttribute (JsonWriter, pb::Attributes).
template <class Out>
void writeTyped(Out& out, std::string_view key, std::string_view text) {
  switch (attributeType(key)) {
    case AttrType::kInt: {
      int64_t v = 0;
      if (parseIntText(text, &v)) return out.intAttribute(key, v);
      break;
    }
    case AttrType::kDouble: {
      double v = 0;
      if (parseDoubleText(text, &v)) return out.doubleAttribute(key, v);
      break;
    }
    case AttrType::kBool:
      if (text == "true" || text == "false") return out.boolAttribute(key, text == "true");
      break;
    case AttrType::kString:
      break;
  }
  out.stringAttribute(key, text);
}

}  // namespace outrigger::otlp
