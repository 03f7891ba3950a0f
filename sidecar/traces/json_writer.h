// The rapidjson writer the trace store's JSON answers are written with, and a keyed string.
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <string_view>

namespace outrigger::traces {

// rapidjson's writer, except that a number JSON cannot hold (NaN, an infinity: a score or a cost
// a store written by hand, or by an older build, may hold) is written as null. rapidjson writes
// nothing at all for one, which leaves a key without a value and the whole answer unreadable.
class JsonWriter : public rapidjson::Writer<rapidjson::StringBuffer> {
 public:
  using Writer::Writer;
  bool Double(double d) { return std::isfinite(d) ? Writer::Double(d) : Null(); }
};

inline void str(JsonWriter& w, const char* key, std::string_view v) {
  w.Key(key);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

}  // namespace outrigger::traces
