// What a Redis command comes back with: hiredis' parsed reply, or why there is none.
#pragma once

#include <hiredis/hiredis.h>

#include <functional>
#include <memory>
#include <string_view>

namespace outrigger::redis {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

enum class RedisFailure {
  kNone,         // `reply` holds the answer (which may be a Redis error reply)
  kUnavailable,  // not connected, the connection broke, or the client is shutting down
  kTimeout,      // sent, and no answer within command_timeout_ms (Redis may still run it)
  kOverloaded,   // max_pending commands already waiting
};

struct RedisResult {
  RedisFailure failure = RedisFailure::kNone;
  const redisReply* reply = nullptr;
  std::string_view error;  // why, when failure is not kNone

  bool ok() const { return failure == RedisFailure::kNone && reply && reply->type != REDIS_REPLY_ERROR; }
  // The server's error text, or the client's failure.
  std::string_view why() const {
    if (failure != RedisFailure::kNone) return error;
    if (reply && reply->type == REDIS_REPLY_ERROR) return std::string_view(reply->str, reply->len);
    return {};
  }
};

// Runs exactly once per command, on the instance's loop.
using ReplyFn = std::function<void(const RedisResult&)>;

}  // namespace outrigger::redis
