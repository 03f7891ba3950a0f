// Reading OTLP JSON trace payloads back in tests: the exporter's own request bodies, and what
// Jaeger's /api/v3/traces answers (the same OTLP JSON shape under "result").
#pragma once

#include <rapidjson/document.h>

#include <map>
#include <string>
#include <vector>

namespace outrigger::testing {

struct OtlpAttr {
  std::string type;  // string | int | double | bool | array
  std::string text;  // the value as text; an array's string values joined with ','
  double number = 0;
};

struct OtlpSpan {
  std::string trace_id, span_id, parent_span_id, name;
  int kind = 0;
  int status_code = 0;
  std::string status_message;
  uint64_t start_ns = 0, end_ns = 0;
  std::map<std::string, OtlpAttr> attributes;
  std::vector<std::string> events;  // names
  std::map<std::string, std::map<std::string, OtlpAttr>> event_attributes;  // by event name
  std::map<std::string, uint64_t> event_times;                              // by event name
  // Keys that came more than once in one attributes list (the maps keep one of them).
  std::vector<std::string> duplicate_keys;

  bool has(const std::string& key) const { return attributes.count(key) != 0; }
  std::string text(const std::string& key) const {
    auto it = attributes.find(key);
    return it == attributes.end() ? std::string() : it->second.text;
  }
  std::string type(const std::string& key) const {
    auto it = attributes.find(key);
    return it == attributes.end() ? std::string() : it->second.type;
  }
};

// An attributes list by key; a key that comes again is added to *duplicates when given.
inline std::map<std::string, OtlpAttr> otlpAttributes(const rapidjson::Value& list,
                                                      std::vector<std::string>* duplicates = nullptr) {
  std::map<std::string, OtlpAttr> out;
  if (!list.IsArray()) return out;
  for (const auto& kv : list.GetArray()) {
    const auto& v = kv["value"];
    OtlpAttr a;
    if (v.HasMember("stringValue")) {
      a = {"string", v["stringValue"].GetString()};
    } else if (v.HasMember("intValue")) {
      const auto& i = v["intValue"];
      a = {"int", i.IsString() ? i.GetString() : std::to_string(i.GetInt64())};
      a.number = std::stod(a.text);
    } else if (v.HasMember("doubleValue")) {
      a = {"double", std::to_string(v["doubleValue"].GetDouble())};
      a.number = v["doubleValue"].GetDouble();
    } else if (v.HasMember("boolValue")) {
      a = {"bool", v["boolValue"].GetBool() ? "true" : "false"};
    } else if (v.HasMember("arrayValue")) {
      a.type = "array";
      for (const auto& e : v["arrayValue"]["values"].GetArray()) {
        if (!a.text.empty()) a.text += ",";
        if (e.HasMember("stringValue")) a.text += e["stringValue"].GetString();
      }
    }
    if (out.count(kv["key"].GetString()) && duplicates) duplicates->push_back(kv["key"].GetString());
    out[kv["key"].GetString()] = a;
  }
  return out;
}

inline uint64_t otlpTime(const rapidjson::Value& v) {
  return v.IsString() ? std::stoull(v.GetString()) : v.GetUint64();
}

// Every span under a {"resourceSpans": [...]} object.
inline std::vector<OtlpSpan> otlpSpans(const rapidjson::Value& request) {
  std::vector<OtlpSpan> out;
  if (!request.IsObject() || !request.HasMember("resourceSpans")) return out;
  for (const auto& rs : request["resourceSpans"].GetArray()) {
    if (!rs.HasMember("scopeSpans")) continue;
    for (const auto& ss : rs["scopeSpans"].GetArray()) {
      if (!ss.HasMember("spans")) continue;
      for (const auto& s : ss["spans"].GetArray()) {
        OtlpSpan span;
        span.trace_id = s["traceId"].GetString();
        span.span_id = s["spanId"].GetString();
        if (s.HasMember("parentSpanId")) span.parent_span_id = s["parentSpanId"].GetString();
        span.name = s["name"].GetString();
        span.kind = s.HasMember("kind") ? s["kind"].GetInt() : 0;
        span.start_ns = otlpTime(s["startTimeUnixNano"]);
        span.end_ns = otlpTime(s["endTimeUnixNano"]);
        if (s.HasMember("attributes")) span.attributes = otlpAttributes(s["attributes"], &span.duplicate_keys);
        if (s.HasMember("status")) {
          const auto& st = s["status"];
          if (st.HasMember("code")) span.status_code = st["code"].GetInt();
          if (st.HasMember("message")) span.status_message = st["message"].GetString();
        }
        if (s.HasMember("events")) {
          for (const auto& e : s["events"].GetArray()) {
            span.events.push_back(e["name"].GetString());
            if (e.HasMember("timeUnixNano")) span.event_times[e["name"].GetString()] = otlpTime(e["timeUnixNano"]);
            if (e.HasMember("attributes")) span.event_attributes[e["name"].GetString()] = otlpAttributes(e["attributes"], &span.duplicate_keys);
          }
        }
        out.push_back(std::move(span));
      }
    }
  }
  return out;
}

inline const OtlpSpan* findSpan(const std::vector<OtlpSpan>& spans, const std::string& name) {
  for (const auto& s : spans) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace outrigger::testing
