// The rapidjson writer the trace store's JSON answers are written with, and a keyed string.
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string_view>

namespace outrigger::traces {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

inline void str(JsonWriter& w, const char* key, std::string_view v) {
  w.Key(key);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

}  // namespace outrigger::traces
