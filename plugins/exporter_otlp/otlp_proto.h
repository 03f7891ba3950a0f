// Writing OTLP's protobuf encoding (opentelemetry-proto, the messages of
// opentelemetry/proto/{common,resource,trace,metrics,logs}/v1 and collector/*/v1) with protozero:
// fields are written by number straight into the batch's buffer, without generated classes or
// a message tree. The field numbers below are the .proto files' own; the tests decode what
// this writes with classes protoc generated from those files (tests/otlp/proto).
// Pure functions; nothing here touches the network or the host.
#pragma once

#include <protozero/pbf_writer.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "otlp_encoding.h"

namespace outrigger::otlp::pb {

// common/v1/common.proto
namespace any_value { enum : uint32_t { kString = 1, kBool = 2, kInt = 3, kDouble = 4, kArray = 5 }; }
namespace array_value { enum : uint32_t { kValues = 1 }; }
namespace key_value { enum : uint32_t { kKey = 1, kValue = 2 }; }
namespace scope { enum : uint32_t { kName = 1, kVersion = 2 }; }
// resource/v1/resource.proto
namespace resource { enum : uint32_t { kAttributes = 1 }; }
// trace/v1/trace.proto and collector/trace/v1/trace_service.proto
namespace traces_request { enum : uint32_t { kResourceSpans = 1 }; }
namespace resource_spans { enum : uint32_t { kResource = 1, kScopeSpans = 2 }; }
namespace scope_spans { enum : uint32_t { kScope = 1, kSpans = 2 }; }
namespace span {
enum : uint32_t {
  kTraceId = 1, kSpanId = 2, kParentSpanId = 4, kName = 5, kKind = 6, kStartTime = 7, kEndTime = 8,
  kAttributes = 9, kEvents = 11, kStatus = 15
};
}
namespace event { enum : uint32_t { kTime = 1, kName = 2, kAttributes = 3 }; }
namespace status { enum : uint32_t { kMessage = 2, kCode = 3 }; }
// metrics/v1/metrics.proto and collector/metrics/v1/metrics_service.proto
namespace metrics_request { enum : uint32_t { kResourceMetrics = 1 }; }
namespace resource_metrics { enum : uint32_t { kResource = 1, kScopeMetrics = 2 }; }
namespace scope_metrics { enum : uint32_t { kScope = 1, kMetrics = 2 }; }
namespace metric { enum : uint32_t { kName = 1, kDescription = 2, kUnit = 3, kSum = 7, kHistogram = 9 }; }
namespace sum { enum : uint32_t { kDataPoints = 1, kTemporality = 2, kMonotonic = 3 }; }
namespace histogram { enum : uint32_t { kDataPoints = 1, kTemporality = 2 }; }
namespace number_point { enum : uint32_t { kStartTime = 2, kTime = 3, kAsInt = 6, kAttributes = 7 }; }
namespace histogram_point {
enum : uint32_t {
  kStartTime = 2, kTime = 3, kCount = 4, kSum = 5, kBucketCounts = 6, kExplicitBounds = 7, kAttributes = 9,
  kMin = 11, kMax = 12
};
}
// logs/v1/logs.proto and collector/logs/v1/logs_service.proto
namespace logs_request { enum : uint32_t { kResourceLogs = 1 }; }
namespace resource_logs { enum : uint32_t { kResource = 1, kScopeLogs = 2 }; }
namespace scope_logs { enum : uint32_t { kScope = 1, kLogRecords = 2 }; }
namespace log_record {
enum : uint32_t {
  kTime = 1, kSeverityNumber = 2, kAttributes = 6, kTraceId = 9, kSpanId = 10, kObservedTime = 11, kEventName = 12
};
}
// The answer to any export: Export*ServiceResponse.partial_success, whose first field is the
// rejected count (spans, data points or log records) and second the error message.
namespace export_response { enum : uint32_t { kPartialSuccess = 1 }; }
namespace partial_success { enum : uint32_t { kRejected = 1, kErrorMessage = 2 }; }

inline constexpr int kAggregationCumulative = 2;

// The attributes of one message: KeyValue entries written as its field `field` (Span 9, Event 3,
// Resource 1, HistogramDataPoint 9, NumberDataPoint 7, LogRecord 6), appended to `buffer`, the
// buffer of the message's writer, which must have no submessage open. Every length is computed
// before it is written, so nothing is reserved and moved back as nested writers do.
class Attributes {
 public:
  Attributes(std::string* buffer, uint32_t field) : buffer_(buffer), field_(field) {}

  void stringAttribute(std::string_view key, std::string_view value);
  void intAttribute(std::string_view key, int64_t value);
  void doubleAttribute(std::string_view key, double value);
  void boolAttribute(std::string_view key, bool value);
  void stringArrayAttribute(std::string_view key, const std::vector<std::string_view>& values);

 private:
  template <class WriteValue>
  void keyValue(std::string_view key, size_t any, WriteValue&& value);

  std::string* buffer_;
  uint32_t field_;
};

// The free attribute writers of otlp_json.h (writeStringAttribute ...), for pb::Attributes, so
// the encoders' templates write either encoding's attributes with the same calls.
inline void writeStringAttribute(Attributes& a, std::string_view k, std::string_view v) { a.stringAttribute(k, v); }
inline void writeIntAttribute(Attributes& a, std::string_view k, int64_t v) { a.intAttribute(k, v); }
inline void writeDoubleAttribute(Attributes& a, std::string_view k, double v) { a.doubleAttribute(k, v); }
inline void writeBoolAttribute(Attributes& a, std::string_view k, bool v) { a.boolAttribute(k, v); }
inline void writeStringArrayAttribute(Attributes& a, std::string_view k, const std::vector<std::string_view>& v) {
  a.stringArrayAttribute(k, v);
}
inline void writeTypedAttribute(Attributes& a, std::string_view k, std::string_view text) { writeTyped(a, k, text); }

// The 16 (trace) or 8 (span) bytes of an id given as hex digits (isHexId checked).
struct IdBytes {
  char bytes[16];
  size_t size = 0;
  std::string_view view() const { return {bytes, size}; }
};
IdBytes idBytes(std::string_view hex);

// A Resource message: service.name first, then the configured attributes.
std::string resourceMessage(std::string_view service_name, const StringAttributes& attributes);
// The InstrumentationScope message.
std::string scopeMessage();

// An Export*ServiceRequest around `items` (Span, Metric or LogRecord fields as the Scope*
// message's repeated field 2, already encoded): request{ field 1: Resource*{ field 1: resource,
// field 2: Scope*{ field 1: scope, items } } }. Traces, metrics and logs share this shape.
std::string exportRequest(std::string_view resource, std::string_view items);

// The rejected count and error message of a protobuf Export*ServiceResponse; 0 and nothing when
// it carries no partial success or does not parse.
uint64_t partialRejections(std::string_view body, std::string* message);

// The message of a google.rpc.Status (what OTLP/HTTP answers an error with, in protobuf); empty
// when there is none or the bytes do not parse.
std::string statusMessage(std::string_view body);

// `bytes` with every byte outside printable ASCII written as \xNN, for a log line.
std::string printable(std::string_view bytes);

}  // namespace outrigger::otlp::pb
