#include "otlp_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace outrigger::otlp {
namespace {

void key(JsonWriter& w, const char* k) { w.Key(k); }

void startAttribute(JsonWriter& w, std::string_view k) {
  w.StartObject();
  key(w, "key");
  writeString(w, k);
  key(w, "value");
  w.StartObject();
}

void endAttribute(JsonWriter& w) {
  w.EndObject();
  w.EndObject();
}

}  // namespace

void writeString(JsonWriter& w, std::string_view s) {
  w.String(s.data() ? s.data() : "", static_cast<rapidjson::SizeType>(s.size()));
}

void writeInt64(JsonWriter& w, uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  w.String(buf, static_cast<rapidjson::SizeType>(p - buf));
}

void writeStringAttribute(JsonWriter& w, std::string_view k, std::string_view value) { w.stringAttribute(k, value); }

void writeIntAttribute(JsonWriter& w, std::string_view k, int64_t value) { w.intAttribute(k, value); }

void writeDoubleAttribute(JsonWriter& w, std::string_view k, double value) {
  w.doubleAttribute(k, std::isfinite(value) ? value : 0.0);
}

void writeBoolAttribute(JsonWriter& w, std::string_view k, bool value) { w.boolAttribute(k, value); }

void writeStringArrayAttribute(JsonWriter& w, std::string_view k, const std::vector<std::string_view>& values) {
  startAttribute(w, k);
  key(w, "arrayValue");
  w.StartObject();
  key(w, "values");
  w.StartArray();
  for (std::string_view v : values) {
    w.StartObject();
    key(w, "stringValue");
    writeString(w, v);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  endAttribute(w);
}

void writeTypedAttribute(JsonWriter& w, std::string_view k, std::string_view text) { writeTyped(w, k, text); }

std::string resourceJson(std::string_view service_name, const StringAttributes& attributes) {
  json::JsonBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  key(w, "attributes");
  w.StartArray();
  writeStringAttribute(w, "service.name", service_name);
  for (const auto& [k, v] : attributes) {
    if (k != "service.name") writeStringAttribute(w, k, v);
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.view());
}

std::string scopeJson() {
  return std::string(R"({"name":"outrigger.exporter.otlp","version":")") + kPluginVersion + "\"}";
}

}  // namespace outrigger::otlp
