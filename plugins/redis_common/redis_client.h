// A Redis client for one plugin instance on its worker's loop (ABI 1.2's instance loop): a pool
// of connections, commands pipelined on the least busy ready one, per-command timeouts, reconnect
// with jittered backoff, Lua scripts by SHA with the body sent once when Redis lacks it. Every
// key a plugin builds starts with the deployment's prefix (key()).
//
// Failure is quick and explicit: with no connection ready and none being made, a command fails
// at once with kUnavailable, so a limiter can fall back or refuse without waiting.
#pragma once

#include <outrigger/plugin.hpp>

#include <openssl/ssl.h>

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "redis_connection.h"
#include "redis_reply.h"
#include "redis_settings.h"

namespace outrigger::redis {

// Counters shared by an instance's pools on every worker (the metrics hook reads them).
struct RedisStats {
  std::atomic<uint64_t> commands{0}, unavailable{0}, timeouts{0}, overloaded{0}, reconnects{0};
  std::atomic<int64_t> connections_up{0};
};

// 16 hex digits: how keys name a hash (a tenant's, a request's).
std::string hex64(uint64_t v);

// The client's series for the instance's metrics hook (summed over its workers by the host).
void reportRedisStats(const plugin::MetricsWriter& out, const RedisStats& stats);

// A Lua script and its SHA1, which EVALSHA names.
struct RedisScript {
  explicit RedisScript(std::string body);
  std::string body, sha1;
};

class RedisClient {
 public:
  // Resolves the address (blocking: call it from create). Throws std::runtime_error.
  RedisClient(plugin::Host host, RedisSettings settings, std::shared_ptr<RedisStats> stats);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // [any] Starts connecting once the instance's loop is bound.
  void start();
  // [instance loop] Runs a command; `fn` runs exactly once, maybe before this returns.
  void command(const std::vector<std::string>& args, ReplyFn fn);
  // [instance loop] EVALSHA, falling back to EVAL when the server does not know the script.
  void eval(const RedisScript& script, const std::vector<std::string>& keys, const std::vector<std::string>& args,
            ReplyFn fn);

  std::string key(std::string_view suffix) const { return settings_.key_prefix + std::string(suffix); }
  const RedisSettings& settings() const { return settings_; }
  bool anyReady() const;

 private:
  struct Waiting {
    std::string command;
    ReplyFn fn;
    uint64_t deadline_ns;
  };

  void send(std::string command, ReplyFn fn);
  void tick();
  void onReady();
  RedisConnection* leastBusyReady();
  std::string unreachable() const;

  plugin::Host host_;
  RedisSettings settings_;
  std::shared_ptr<RedisStats> stats_;
  RedisAddress address_;
  SSL_CTX* tls_ = nullptr;
  std::vector<std::unique_ptr<RedisConnection>> connections_;
  std::deque<Waiting> waiting_;  // commands sent while every connection was still connecting
  std::string last_error_;  // why the last connection failed
  uint64_t timer_id_ = 0;
  bool started_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace outrigger::redis
