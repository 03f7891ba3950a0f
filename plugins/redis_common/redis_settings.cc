#include "redis_settings.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace outrigger::redis {

const char kRedisSettingsSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "host": {"type": "string", "minLength": 1, "maxLength": 255, "description": "Redis host (a name is resolved once, when the config loads)"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "unix_socket": {"type": "string", "maxLength": 107, "description": "path of a Unix socket; replaces host and port"},
    "username": {"type": "string", "maxLength": 256, "description": "ACL user for AUTH"},
    "password": {"type": "string", "maxLength": 4096, "description": "AUTH password; env:NAME reads it from the environment"},
    "database": {"type": "integer", "minimum": 0, "maximum": 1023},
    "key_prefix": {"type": "string", "maxLength": 128, "description": "prefix of every key, one per deployment"},
    "pool_size": {"type": "integer", "minimum": 1, "maximum": 64, "description": "connections per worker"},
    "connect_timeout_ms": {"type": "integer", "minimum": 1, "maximum": 60000},
    "command_timeout_ms": {"type": "integer", "minimum": 1, "maximum": 60000},
    "reconnect_min_ms": {"type": "integer", "minimum": 1, "maximum": 60000},
    "reconnect_max_ms": {"type": "integer", "minimum": 1, "maximum": 600000},
    "max_pending": {"type": "integer", "minimum": 1, "maximum": 1000000},
    "tls": {"type": "boolean"},
    "tls_ca_file": {"type": "string", "maxLength": 4096},
    "tls_server_name": {"type": "string", "maxLength": 255},
    "tls_verify": {"type": "boolean"},
    "tls_cert_file": {"type": "string", "maxLength": 4096},
    "tls_key_file": {"type": "string", "maxLength": 4096}
  }
})json";

namespace {

// "env:NAME" reads the environment, "file:/path" a file (a Kubernetes secret mount, its trailing
// whitespace trimmed), as provider keys take them; anything else is the password.
std::string secret(const std::string& value) {
  if (value.rfind("file:", 0) == 0) {
    std::ifstream in(value.substr(5), std::ios::binary);
    if (!in) throw std::runtime_error("redis.password: cannot read " + value.substr(5));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    if (text.empty()) throw std::runtime_error("redis.password: " + value.substr(5) + " is empty");
    return text;
  }
  if (value.rfind("env:", 0) != 0) return value;
  const char* v = std::getenv(value.c_str() + 4);
  if (!v) throw std::runtime_error("redis.password: environment variable " + value.substr(4) + " is not set");
  return v;
}

}  // namespace

RedisSettings parseRedisSettings(const rapidjson::Value& o) {
  RedisSettings s;
  auto text = [&](const char* key, std::string* out) {
    if (o.HasMember(key)) out->assign(o[key].GetString(), o[key].GetStringLength());
  };
  auto number = [&](const char* key, uint32_t* out) {
    if (o.HasMember(key)) *out = o[key].GetUint();
  };
  text("host", &s.host);
  if (o.HasMember("port")) s.port = uint16_t(o["port"].GetUint());
  text("unix_socket", &s.unix_socket);
  text("username", &s.username);
  text("password", &s.password);
  s.password = secret(s.password);
  number("database", &s.database);
  text("key_prefix", &s.key_prefix);
  number("pool_size", &s.pool_size);
  number("connect_timeout_ms", &s.connect_timeout_ms);
  number("command_timeout_ms", &s.command_timeout_ms);
  number("reconnect_min_ms", &s.reconnect_min_ms);
  number("reconnect_max_ms", &s.reconnect_max_ms);
  number("max_pending", &s.max_pending);
  if (o.HasMember("tls")) s.tls = o["tls"].GetBool();
  if (o.HasMember("tls_verify")) s.tls_verify = o["tls_verify"].GetBool();
  text("tls_ca_file", &s.tls_ca_file);
  text("tls_server_name", &s.tls_server_name);
  text("tls_cert_file", &s.tls_cert_file);
  text("tls_key_file", &s.tls_key_file);
  if (s.reconnect_max_ms < s.reconnect_min_ms) throw std::runtime_error("redis.reconnect_max_ms is below reconnect_min_ms");
  if (s.tls && !s.unix_socket.empty()) throw std::runtime_error("redis.tls needs host and port, not a Unix socket");
  if (s.tls_cert_file.empty() != s.tls_key_file.empty()) {
    throw std::runtime_error("redis.tls_cert_file and redis.tls_key_file go together");
  }
  return s;
}

}  // namespace outrigger::redis
