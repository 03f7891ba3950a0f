// Writing OTLP's JSON encoding (opentelemetry-proto docs/specification.md, "JSON Protobuf
// Encoding"): lowerCamelCase keys, trace and span ids as hex strings, enums as integers, 64-bit
// integers (times, counts, intValue) as decimal strings. Pure functions over a RapidJSON writer;
// nothing here touches the network or the host.
#pragma once

#include <rapidjson/writer.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "json_buffer.h"

namespace outrigger::otlp {

// The plugin's version: its library's, and the instrumentation scope's in every payload.
inline constexpr char kPluginVersion[] = "1.0.0";

// JsonBuffer rather than RapidJSON's StringBuffer: a record's spans are some 70 short attributes,
// which it takes faster (json_buffer.h).
using JsonWriter = rapidjson::Writer<json::JsonBuffer>;

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

// True for `n` lowercase (or uppercase) hex digits that are not all zero: an OTLP trace id
// (n = 32) or span id (n = 16).
bool isHexId(std::string_view id, size_t n);

void writeString(JsonWriter& w, std::string_view s);
// A 64-bit integer the way proto3 JSON writes one: a decimal string.
void writeInt64(JsonWriter& w, uint64_t v);

// One {"key": k, "value": {...}} element of an attributes array.
void writeStringAttribute(JsonWriter& w, std::string_view key, std::string_view value);
void writeIntAttribute(JsonWriter& w, std::string_view key, int64_t value);
void writeDoubleAttribute(JsonWriter& w, std::string_view key, double value);
void writeBoolAttribute(JsonWriter& w, std::string_view key, bool value);
void writeStringArrayAttribute(JsonWriter& w, std::string_view key, const std::vector<std::string_view>& values);
// A host attribute: its text written as attributeType(key) says, or as a string when it does
// not parse as that type.
void writeTypedAttribute(JsonWriter& w, std::string_view key, std::string_view text);

// {"attributes":[...]} of a resource: service.name first, then the configured ones.
std::string resourceJson(std::string_view service_name, const StringAttributes& attributes);
// {"name":..., "version":...} of the instrumentation scope.
std::string scopeJson();

}  // namespace outrigger::otlp
