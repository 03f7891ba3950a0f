// Reading the shared HTTP provider settings (see http_settings.h).
#include "http_settings.h"

#include <cctype>
#include <stdexcept>

#include "secret_ref.h"

namespace outrigger::providers {

std::string configText(const rapidjson::Value& d, const char* k, std::string def) {
  auto it = d.FindMember(k);
  return it != d.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : def;
}

uint32_t configUint(const rapidjson::Value& d, const char* k) {
  auto it = d.FindMember(k);
  return it != d.MemberEnd() && it->value.IsUint() ? it->value.GetUint() : 0u;
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpSettings readHttpSettings(const rapidjson::Value& d) {
  HttpSettings s;
  std::vector<std::string> refs;
  if (std::string k = configText(d, "api_key"); !k.empty()) refs.push_back(k);
  if (auto it = d.FindMember("api_keys"); it != d.MemberEnd() && it->value.IsArray()) {
    for (auto& v : it->value.GetArray())
      if (v.IsString()) refs.emplace_back(v.GetString());
  }
  for (const std::string& ref : refs) {
    std::string value, error;
    if (!resolveSecret(ref, &value, &error)) throw std::runtime_error("api key: " + error);
    s.keys.push_back(std::move(value));
  }
  if (auto it = d.FindMember("headers"); it != d.MemberEnd() && it->value.IsObject()) {
    for (auto& m : it->value.GetObject()) s.headers.emplace_back(m.name.GetString(), m.value.GetString());
  }
  s.connect_ms = configUint(d, "connect_timeout_ms");
  s.first_byte_ms = configUint(d, "first_byte_timeout_ms");
  s.idle_ms = configUint(d, "idle_timeout_ms");
  s.total_ms = configUint(d, "total_timeout_ms");
  if (uint32_t m = configUint(d, "max_body_bytes")) s.max_body = m;
  s.cassette = readCassetteSettings(d);
  return s;
}

}  // namespace outrigger::providers
