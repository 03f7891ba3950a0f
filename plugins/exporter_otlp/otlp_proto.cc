#include "otlp_proto.h"

#include <protozero/exception.hpp>
#include <protozero/pbf_reader.hpp>
#include <protozero/varint.hpp>

#include <algorithm>
#include <cmath>

namespace outrigger::otlp::pb {
namespace {

// Bytes of a length-delimited field: its tag (every field number here is below 16, one byte),
// the length varint, the payload.
size_t delimited(size_t payload) { return 1 + static_cast<size_t>(protozero::length_of_varint(payload)) + payload; }

// A length-delimited field's tag and length, in one append (protozero's std::string overload
// appends a byte at a time).
void putHead(std::string* b, uint32_t field, size_t length) {
  char head[2 * protozero::max_varint_length];
  int n = protozero::add_varint_to_buffer(
      head, field << 3 | static_cast<uint32_t>(protozero::pbf_wire_type::length_delimited));
  n += protozero::add_varint_to_buffer(head + n, length);
  b->append(head, static_cast<size_t>(n));
}

void putString(std::string* b, uint32_t field, std::string_view s) {
  putHead(b, field, s.size());
  b->append(s.data(), s.size());
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

}  // namespace

// A KeyValue whose AnyValue payload (`any` bytes) `value` writes.
template <class WriteValue>
void Attributes::keyValue(std::string_view key, size_t any, WriteValue&& value) {
  putHead(buffer_, field_, delimited(key.size()) + delimited(any));
  putString(buffer_, key_value::kKey, key);
  putHead(buffer_, key_value::kValue, any);
  value();
}

void Attributes::stringAttribute(std::string_view key, std::string_view value) {
  keyValue(key, delimited(value.size()), [&] { putString(buffer_, any_value::kString, value); });
}

void Attributes::intAttribute(std::string_view key, int64_t value) {
  auto bits = static_cast<uint64_t>(value);  // int64: two's complement, ten bytes when negative
  keyValue(key, 1 + static_cast<size_t>(protozero::length_of_varint(bits)), [&] {
    char field[1 + protozero::max_varint_length];
    field[0] = static_cast<char>(any_value::kInt << 3 | static_cast<uint32_t>(protozero::pbf_wire_type::varint));
    int n = 1 + protozero::add_varint_to_buffer(field + 1, bits);
    buffer_->append(field, static_cast<size_t>(n));
  });
}

void Attributes::doubleAttribute(std::string_view key, double value) {
  keyValue(key, 1 + 8, [&] {
    protozero::pbf_writer(*buffer_).add_double(any_value::kDouble, std::isfinite(value) ? value : 0.0);
  });
}

void Attributes::boolAttribute(std::string_view key, bool value) {
  keyValue(key, 1 + 1, [&] { protozero::pbf_writer(*buffer_).add_bool(any_value::kBool, value); });
}

void Attributes::stringArrayAttribute(std::string_view key, const std::vector<std::string_view>& values) {
  size_t array = 0;  // ArrayValue: one AnyValue (a string) per value
  for (std::string_view v : values) array += delimited(delimited(v.size()));
  keyValue(key, delimited(array), [&] {
    putHead(buffer_, any_value::kArray, array);
    for (std::string_view v : values) {
      putHead(buffer_, array_value::kValues, delimited(v.size()));
      putString(buffer_, any_value::kString, v);
    }
  });
}

IdBytes idBytes(std::string_view hex) {
  IdBytes out;
  out.size = std::min(hex.size() / 2, sizeof out.bytes);
  for (size_t i = 0; i < out.size; ++i) {
    out.bytes[i] = static_cast<char>(hexValue(hex[2 * i]) << 4 | hexValue(hex[2 * i + 1]));
  }
  return out;
}

std::string resourceMessage(std::string_view service_name, const StringAttributes& attributes) {
  std::string out;
  Attributes a(&out, resource::kAttributes);
  a.stringAttribute("service.name", service_name);
  for (const auto& [k, v] : attributes) {
    if (k != "service.name") a.stringAttribute(k, v);
  }
  return out;
}

std::string scopeMessage() {
  std::string out;
  protozero::pbf_writer w(out);
  w.add_string(scope::kName, "outrigger.exporter.otlp");
  w.add_string(scope::kVersion, kPluginVersion);
  return out;
}

std::string exportRequest(std::string_view resource_message, std::string_view items) {
  std::string scope = scopeMessage();
  size_t scoped = delimited(scope.size()) + items.size();
  size_t resourced = delimited(resource_message.size()) + delimited(scoped);
  std::string out;
  out.reserve(delimited(resourced));
  putHead(&out, 1, resourced);  // Resource{Spans,Metrics,Logs}
  putString(&out, 1, resource_message);
  putHead(&out, 2, scoped);     // Scope{Spans,Metrics,Logs}
  putString(&out, 1, scope);
  out.append(items.data(), items.size());
  return out;
}

uint64_t partialRejections(std::string_view body, std::string* message) {
  uint64_t rejected = 0;
  try {
    protozero::pbf_reader response(body.data(), body.size());
    while (response.next()) {
      if (response.tag() != export_response::kPartialSuccess ||
          response.wire_type() != protozero::pbf_wire_type::length_delimited) {
        response.skip();
        continue;
      }
      protozero::pbf_reader ps = response.get_message();
      while (ps.next()) {
        if (ps.tag() == partial_success::kRejected && ps.wire_type() == protozero::pbf_wire_type::varint) {
          int64_t n = ps.get_int64();
          rejected = n > 0 ? static_cast<uint64_t>(n) : 0;
        } else if (ps.tag() == partial_success::kErrorMessage &&
                   ps.wire_type() == protozero::pbf_wire_type::length_delimited) {
          *message = ps.get_string();
        } else {
          ps.skip();
        }
      }
    }
  } catch (const protozero::exception&) {
    message->clear();  // not protobuf (a proxy's text answer): nothing rejected that it could say
    return 0;
  }
  return rejected;
}

std::string statusMessage(std::string_view body) {
  constexpr uint32_t kStatusMessage = 2;  // google/rpc/status.proto: code 1, message 2, details 3
  std::string message;
  try {
    protozero::pbf_reader status(body.data(), body.size());
    while (status.next()) {
      if (status.tag() == kStatusMessage && status.wire_type() == protozero::pbf_wire_type::length_delimited) {
        message = status.get_string();
      } else {
        status.skip();
      }
    }
  } catch (const protozero::exception&) {
    return {};
  }
  return message;
}

std::string printable(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

}  // namespace outrigger::otlp::pb
