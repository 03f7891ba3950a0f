#include "http/forced_tool.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace outrigger::http {

std::string forcedToolChoice(std::string_view name) {
  bool reads_otherwise = name == "auto" || name == "none" || name == "required" || (!name.empty() && name.front() == '{');
  if (!reads_otherwise) return std::string(name);
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("type");
  w.String("function");
  w.Key("function");
  w.StartObject();
  w.Key("name");
  w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  w.EndObject();
  w.EndObject();
  return std::string(out.GetString(), out.GetSize());
}

}  // namespace outrigger::http
