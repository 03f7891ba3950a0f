#include "redis_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace outrigger::redis {

namespace {

constexpr uint64_t kMs = 1000000;

}  // namespace

std::string formatCommand(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* raw = nullptr;
  int n = redisFormatCommandArgv(&raw, int(argv.size()), argv.data(), lens.data());
  std::string out = n > 0 ? std::string(raw, size_t(n)) : std::string();
  redisFreeCommand(raw);
  return out;
}

namespace {

std::string tlsError(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + ": " + (e ? buf : "connection closed");
}

}  // namespace

RedisConnection::RedisConnection(plugin::Host host, const RedisSettings& settings, const RedisAddress& address,
                                 SSL_CTX* tls, ConnectionEvents events)
    : host_(host), settings_(settings), address_(address), tls_ctx_(tls), events_(std::move(events)) {}

RedisConnection::~RedisConnection() { shutdown(); }

void RedisConnection::shutdown() {
  if (state_ == State::kClosed) return;
  closeSocket();
  state_ = State::kClosed;
  std::deque<Pending> failed;
  failed.swap(pending_);
  for (auto& p : failed) {
    if (!p.internal) p.fn(RedisResult{RedisFailure::kUnavailable, nullptr, "the Redis client is shutting down"});
  }
}

void RedisConnection::send(std::string command, ReplyFn fn, uint64_t deadline_ns) {
  if (state_ != State::kReady) {
    fn(RedisResult{RedisFailure::kUnavailable, nullptr, "not connected to Redis"});
    return;
  }
  out_ += command;
  pending_.push_back(Pending{std::move(fn), deadline_ns, false});
  flush();
}

void RedisConnection::tick(uint64_t now_ns) {
  switch (state_) {
    case State::kIdle:
      if (now_ns >= retry_at_ns_) connect(now_ns);
      break;
    case State::kConnecting:
    case State::kHandshake:
      if (now_ns >= connect_deadline_ns_) fail("connecting to Redis timed out", RedisFailure::kTimeout);
      break;
    case State::kReady:
      // Every command's own deadline, not only the oldest's: one sent behind the setup commands
      // of a fresh connection (whose deadline counts from the connect) must not wait for theirs.
      for (const Pending& p : pending_) {
        if (now_ns >= p.deadline_ns) return fail("Redis did not answer in time", RedisFailure::kTimeout);
      }
      break;
    case State::kClosed:
      break;
  }
}

void RedisConnection::connect(uint64_t now_ns) {
  connect_deadline_ns_ = now_ns + uint64_t(settings_.connect_timeout_ms) * kMs;
  fd_ = ::socket(address_.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
  if (address_.addr.ss_family != AF_UNIX) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  state_ = State::kConnecting;
  int rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address_.addr), address_.len);
  if (rc < 0 && errno != EINPROGRESS) return fail(std::string("connect: ") + std::strerror(errno));
  uint64_t id = 0;
  outrigger_status st = host_.watchFd(fd_, OUTRIGGER_FD_WRITABLE,
                                      [this](int, uint32_t ready, outrigger_status s) { onFd(ready, s); }, &id);
  if (st != OUTRIGGER_OK) return fail("the host cannot watch the Redis socket");
  watch_id_ = id;
  watching_ = true;
  watched_events_ = OUTRIGGER_FD_WRITABLE;
}

void RedisConnection::onFd(uint32_t ready, outrigger_status status) {
  if (status == OUTRIGGER_E_STALE) {
    // Our own unwatch clears watching_ first; otherwise the host is tearing the instance down.
    if (!watching_) return;
    watching_ = false;
    shutdown();  // the commands waiting get their answer: none will come
    return;
  }
  if (status != OUTRIGGER_OK) return fail("polling the Redis socket failed");
  switch (state_) {
    case State::kConnecting:
      if (ready & OUTRIGGER_FD_WRITABLE) finishConnect();
      break;
    case State::kHandshake:
      continueHandshake();
      break;
    case State::kReady:
      if (ready & OUTRIGGER_FD_READABLE) readReplies();
      if (state_ == State::kReady && (ready & OUTRIGGER_FD_WRITABLE)) flush();
      break;
    default:
      break;
  }
}

void RedisConnection::finishConnect() {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return fail(std::string("connect: ") + std::strerror(err));
  if (!tls_ctx_) return becomeReady();
  ssl_ = SSL_new(tls_ctx_);
  if (!ssl_) return fail(tlsError("TLS"));
  SSL_set_fd(ssl_, fd_);
  const std::string& name = settings_.tls_server_name.empty() ? settings_.host : settings_.tls_server_name;
  SSL_set_tlsext_host_name(ssl_, name.c_str());
  if (settings_.tls_verify) SSL_set1_host(ssl_, name.c_str());
  state_ = State::kHandshake;
  continueHandshake();
}

void RedisConnection::continueHandshake() {
  int rc = SSL_connect(ssl_);
  if (rc == 1) return becomeReady();
  int e = SSL_get_error(ssl_, rc);
  if (e == SSL_ERROR_WANT_READ) return watch(OUTRIGGER_FD_READABLE);
  if (e == SSL_ERROR_WANT_WRITE) return watch(OUTRIGGER_FD_WRITABLE);
  fail(tlsError("TLS handshake with Redis"));
}

void RedisConnection::becomeReady() {
  state_ = State::kReady;
  reader_ = redisReaderCreate();
  // AUTH and SELECT go first in the pipeline, then a PING; commands sent after them wait behind
  // them. The connection is up (its backoff reset, the pool told) only once Redis has answered
  // all of them: a Redis that accepts and then refuses (maxclients) or closes, or a stopped one
  // whose kernel still accepts, would otherwise be dialled again at once, forever.
  auto internal = [this](std::vector<std::string> args) {
    out_ += formatCommand(args);
    pending_.push_back(Pending{nullptr, connect_deadline_ns_ + uint64_t(settings_.command_timeout_ms) * kMs, true});
  };
  // A user without a password is an ACL user made with `nopass`, which any password opens:
  // never sending AUTH would run as the `default` user and its rights.
  if (!settings_.username.empty()) internal({"AUTH", settings_.username, settings_.password});
  else if (!settings_.password.empty()) internal({"AUTH", settings_.password});
  if (settings_.database != 0) internal({"SELECT", std::to_string(settings_.database)});
  internal({"PING"});
  watch(OUTRIGGER_FD_READABLE);
  flush();
}

void RedisConnection::flush() {
  while (out_offset_ < out_.size()) {
    const char* p = out_.data() + out_offset_;
    size_t n = out_.size() - out_offset_;
    ssize_t w;
    if (ssl_) {
      w = SSL_write(ssl_, p, int(n));
      if (w <= 0) {
        int e = SSL_get_error(ssl_, int(w));
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
        return fail(tlsError("writing to Redis"));
      }
    } else {
      w = ::send(fd_, p, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return fail(std::string("writing to Redis: ") + std::strerror(errno));
      }
    }
    out_offset_ += size_t(w);
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
    watch(OUTRIGGER_FD_READABLE);
  } else {
    watch(OUTRIGGER_FD_READABLE | OUTRIGGER_FD_WRITABLE);
  }
}

void RedisConnection::readReplies() {
  char buf[16384];
  for (;;) {
    ssize_t n;
    if (ssl_) {
      n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) {
        int e = SSL_get_error(ssl_, int(n));
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) {
          watch(watched_events_ | OUTRIGGER_FD_WRITABLE);
          break;
        }
        return fail(e == SSL_ERROR_ZERO_RETURN ? std::string("Redis closed the connection") : tlsError("reading from Redis"));
      }
    } else {
      n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return fail("Redis closed the connection");
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return fail(std::string("reading from Redis: ") + std::strerror(errno));
      }
    }
    if (redisReaderFeed(reader_, buf, size_t(n)) != REDIS_OK) return fail("Redis sent a reply that does not parse");
    for (;;) {
      void* reply = nullptr;
      if (redisReaderGetReply(reader_, &reply) != REDIS_OK) return fail("Redis sent a reply that does not parse");
      if (!reply) break;
      if (!deliver(static_cast<redisReply*>(reply))) return;
    }
    if (size_t(n) < sizeof buf && !ssl_) break;
  }
}

// False when the connection failed while delivering (the caller stops reading).
bool RedisConnection::deliver(redisReply* raw) {
  ReplyPtr reply(raw);
  if (pending_.empty()) {
    fail("Redis answered a command that was not sent");
    return false;
  }
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  if (p.internal) {
    if (reply->type == REDIS_REPLY_ERROR) {
      fail("Redis refused the connection's setup: " + std::string(reply->str, reply->len));
      return false;
    }
    bool set_up = pending_.empty() || !pending_.front().internal;
    if (set_up) {
      failures_in_a_row_ = 0;
      if (events_.ready) events_.ready();
    }
    return state_ == State::kReady;
  }
  p.fn(RedisResult{RedisFailure::kNone, reply.get(), {}});
  return state_ == State::kReady;
}

void RedisConnection::fail(std::string_view why, RedisFailure failure) {
  if (state_ == State::kClosed) return;
  std::string reason(why);
  closeSocket();
  state_ = State::kIdle;
  ++failures_in_a_row_;
  retry_at_ns_ = host_.nowNs() + backoffNs();
  std::deque<Pending> failed;
  failed.swap(pending_);
  if (events_.failed) events_.failed(reason);
  for (auto& p : failed) {
    if (!p.internal) p.fn(RedisResult{failure, nullptr, reason});
  }
}

void RedisConnection::closeSocket() {
  if (watching_) {
    watching_ = false;
    host_.unwatchFd(watch_id_);  // its final STALE call runs before this returns
  }
  watched_events_ = 0;
  if (ssl_) SSL_free(ssl_);
  ssl_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (reader_) redisReaderFree(reader_);
  reader_ = nullptr;
  out_.clear();
  out_offset_ = 0;
}

void RedisConnection::watch(uint32_t events) {
  if (!watching_ || events == watched_events_) return;
  host_.watchFdUpdate(watch_id_, events);
  watched_events_ = events;
}

// Doubling from reconnect_min_ms up to reconnect_max_ms, with jitter in [50%, 100%] so a fleet
// does not reconnect in step after Redis comes back.
uint64_t RedisConnection::backoffNs() {
  uint64_t ms = settings_.reconnect_min_ms;
  for (uint32_t i = 1; i < failures_in_a_row_ && ms < settings_.reconnect_max_ms; ++i) ms *= 2;
  if (ms > settings_.reconnect_max_ms) ms = settings_.reconnect_max_ms;
  uint64_t jittered = ms / 2 + std::uniform_int_distribution<uint64_t>(0, ms / 2)(jitter_);
  return jittered * kMs;
}

}  // namespace outrigger::redis
