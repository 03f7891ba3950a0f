// One connection to Redis on an instance's loop: non-blocking connect (TCP or Unix socket),
// TLS with OpenSSL, AUTH and SELECT pipelined ahead of the first command, pipelined commands
// answered in order, hiredis' reader for the replies. A failure (refused, reset, a timed-out
// command, a failed AUTH) ends every command in flight with that failure and backs off before
// reconnecting: replies are ordered, so after a timeout the connection cannot be trusted.
#pragma once

#include <outrigger/plugin.hpp>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "redis_reply.h"
#include "redis_settings.h"

namespace outrigger::redis {

// A command in RESP, as hiredis formats it.
std::string formatCommand(const std::vector<std::string>& args);

struct RedisAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

struct ConnectionEvents {
  std::function<void()> ready;            // Redis answered the connection's setup
  std::function<void(std::string_view)> failed;  // it broke (why); it reconnects by itself
};

class RedisConnection {
 public:
  RedisConnection(plugin::Host host, const RedisSettings& settings, const RedisAddress& address, SSL_CTX* tls,
                  ConnectionEvents events);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  bool ready() const { return state_ == State::kReady; }
  bool connecting() const { return state_ == State::kConnecting || state_ == State::kHandshake; }
  size_t inFlight() const { return pending_.size(); }

  // Sends a command formatted by hiredis (RESP). `fn` runs once: the reply, or the failure.
  void send(std::string command, ReplyFn fn, uint64_t deadline_ns);
  // Timeouts and reconnects; the pool's timer calls it.
  void tick(uint64_t now_ns);
  // Fails what is in flight and stops reconnecting (teardown).
  void shutdown();

 private:
  enum class State { kIdle, kConnecting, kHandshake, kReady, kClosed };
  struct Pending {
    ReplyFn fn;
    uint64_t deadline_ns;
    bool internal;  // AUTH / SELECT / PING of the setup: their failure fails the connection
  };

  void connect(uint64_t now_ns);
  void onFd(uint32_t ready, outrigger_status status);
  void finishConnect();
  void continueHandshake();
  void becomeReady();
  void flush();
  void readReplies();
  bool deliver(redisReply* reply);
  void fail(std::string_view why, RedisFailure failure = RedisFailure::kUnavailable);
  void closeSocket();
  void watch(uint32_t events);
  uint64_t backoffNs();

  plugin::Host host_;
  const RedisSettings& settings_;
  RedisAddress address_;
  SSL_CTX* tls_ctx_;
  ConnectionEvents events_;

  State state_ = State::kIdle;
  int fd_ = -1;
  uint64_t watch_id_ = 0;
  bool watching_ = false;
  uint32_t watched_events_ = 0;
  SSL* ssl_ = nullptr;
  redisReader* reader_ = nullptr;
  std::string out_;
  size_t out_offset_ = 0;
  std::deque<Pending> pending_;
  uint64_t connect_deadline_ns_ = 0;
  uint64_t retry_at_ns_ = 0;
  uint32_t failures_in_a_row_ = 0;
  std::minstd_rand jitter_{std::random_device{}()};
};

}  // namespace outrigger::redis
