// Where a Redis-backed plugin connects and how it behaves on the wire: address (TCP or a Unix
// socket), AUTH, TLS, database, key prefix, pool size, timeouts and reconnect backoff. Every
// Redis plugin takes these keys under `redis` in its config.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <string>

namespace outrigger::redis {

struct RedisSettings {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string unix_socket;  // non-empty: connect here instead of host:port
  std::string username, password;
  uint32_t database = 0;
  std::string key_prefix = "outrigger:";
  uint32_t pool_size = 2;             // connections per worker
  uint32_t connect_timeout_ms = 500;
  uint32_t command_timeout_ms = 250;
  uint32_t reconnect_min_ms = 50;
  uint32_t reconnect_max_ms = 5000;
  uint32_t max_pending = 10000;       // commands in flight or queued per worker, then refused
  bool tls = false;
  std::string tls_ca_file;            // empty: the system's trust store
  std::string tls_server_name;        // SNI and the name verified; empty: host
  bool tls_verify = true;
  std::string tls_cert_file, tls_key_file;  // client certificate, optional
};

// The JSON Schema of the `redis` object, to splice into a plugin's schema.
extern const char kRedisSettingsSchema[];

// Reads the validated `redis` object. Throws std::runtime_error with a message naming the key.
RedisSettings parseRedisSettings(const rapidjson::Value& object);

}  // namespace outrigger::redis
