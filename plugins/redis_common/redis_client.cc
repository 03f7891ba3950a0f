#include "redis_client.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <sys/un.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace outrigger::redis {

namespace {

constexpr uint64_t kMs = 1000000;

RedisAddress resolve(const RedisSettings& s) {
  RedisAddress a;
  if (!s.unix_socket.empty()) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::snprintf(un.sun_path, sizeof un.sun_path, "%s", s.unix_socket.c_str());
    std::memcpy(&a.addr, &un, sizeof un);
    a.len = sizeof un;
    return a;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(s.port);
  int rc = getaddrinfo(s.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || !found) throw std::runtime_error("redis.host " + s.host + ": " + gai_strerror(rc));
  std::memcpy(&a.addr, found->ai_addr, found->ai_addrlen);
  a.len = found->ai_addrlen;
  freeaddrinfo(found);
  return a;
}

SSL_CTX* tlsContext(const RedisSettings& s) {
  if (!s.tls) return nullptr;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) throw std::runtime_error("redis.tls: cannot create a TLS context");
  auto fail = [&](const std::string& what) {
    SSL_CTX_free(ctx);
    ERR_clear_error();
    throw std::runtime_error(what);
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (s.tls_verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int ok = s.tls_ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                   : SSL_CTX_load_verify_locations(ctx, s.tls_ca_file.c_str(), nullptr);
    if (ok != 1) fail("redis.tls_ca_file: cannot load " + s.tls_ca_file);
  }
  if (!s.tls_cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, s.tls_cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, s.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      fail("redis.tls_cert_file / tls_key_file: cannot load the client certificate");
    }
  }
  return ctx;
}

}  // namespace

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

void reportRedisStats(const plugin::MetricsWriter& out, const RedisStats& s) {
  out.counter("redis_commands_total", "Commands sent to Redis.", {}, double(s.commands));
  const char* failures = "Commands that got no answer, by why.";
  out.counter("redis_command_failures_total", failures, {{"reason", "unavailable"}}, double(s.unavailable));
  out.counter("redis_command_failures_total", failures, {{"reason", "timeout"}}, double(s.timeouts));
  out.counter("redis_command_failures_total", failures, {{"reason", "overloaded"}}, double(s.overloaded));
  out.counter("redis_reconnects_total", "Connections to Redis lost (each is made again).", {}, double(s.reconnects));
  out.gauge("redis_connections_up", "Connections to Redis ready.", {}, double(s.connections_up));
}

RedisScript::RedisScript(std::string text) : body(std::move(text)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest);
  static const char hex[] = "0123456789abcdef";
  for (unsigned char c : digest) {
    sha1 += hex[c >> 4];
    sha1 += hex[c & 15];
  }
}

RedisClient::RedisClient(plugin::Host host, RedisSettings settings, std::shared_ptr<RedisStats> stats)
    : host_(host), settings_(std::move(settings)), stats_(std::move(stats)) {
  address_ = resolve(settings_);
  tls_ = tlsContext(settings_);
}

RedisClient::~RedisClient() {
  *alive_ = false;
  connections_.clear();  // fails their commands in flight
  std::deque<Waiting> waiting;
  waiting.swap(waiting_);
  for (auto& w : waiting) w.fn(RedisResult{RedisFailure::kUnavailable, nullptr, "the Redis client is shutting down"});
  if (tls_) SSL_CTX_free(tls_);
}

void RedisClient::start() {
  std::weak_ptr<bool> alive = alive_;
  host_.instancePost([this, alive](outrigger_status st) {
    auto a = alive.lock();
    if (st != OUTRIGGER_OK || !a || !*a) return;
    started_ = true;
    for (uint32_t i = 0; i < settings_.pool_size; ++i) {
      auto up = std::make_shared<bool>(false);
      ConnectionEvents events;
      events.ready = [this, up] {
        if (!*up) stats_->connections_up.fetch_add(1);
        *up = true;
        onReady();
      };
      events.failed = [this, up](std::string_view why) {
        // Logged when a connection is lost, and when connecting fails for a new reason (not
        // at every retry of an outage).
        if (*up || why != last_error_) {
          host_.log(OUTRIGGER_LOG_WARN, std::string(*up ? "Redis connection lost: " : "Redis connection failed: ") + std::string(why));
        }
        if (*up) {
          stats_->connections_up.fetch_sub(1);
          stats_->reconnects.fetch_add(1);
        }
        *up = false;
        last_error_ = why;
      };
      connections_.push_back(std::make_unique<RedisConnection>(host_, settings_, address_, tls_, std::move(events)));
    }
    // Connect now, not at the timer's first tick a loop turn later: a command sent between the
    // two would find no connection up or connecting, and fail as if Redis were down (after every
    // reload, whose new instance starts this way while requests keep coming).
    tick();
    // Timeouts and reconnects are checked on one timer per pool; a fifth of the command
    // timeout keeps a timeout's lateness small, within 5..50 ms.
    uint32_t every = std::clamp<uint32_t>(settings_.command_timeout_ms / 5, 5, 50);
    host_.instanceTimer(0, every, [this, alive](outrigger_status s) {
      auto a = alive.lock();
      if (s == OUTRIGGER_OK && a && *a) tick();
    }, &timer_id_);
  });
}

bool RedisClient::anyReady() const {
  return std::any_of(connections_.begin(), connections_.end(), [](const auto& c) { return c->ready(); });
}

RedisConnection* RedisClient::leastBusyReady() {
  RedisConnection* best = nullptr;
  for (auto& c : connections_) {
    if (c->ready() && (!best || c->inFlight() < best->inFlight())) best = c.get();
  }
  return best;
}

void RedisClient::command(const std::vector<std::string>& args, ReplyFn fn) {
  send(formatCommand(args), std::move(fn));
}

void RedisClient::send(std::string command, ReplyFn fn) {
  stats_->commands.fetch_add(1);
  // Count the failures where they are decided, whichever path decides them.
  auto counted = [stats = stats_, fn = std::move(fn)](const RedisResult& r) {
    if (r.failure == RedisFailure::kUnavailable) stats->unavailable.fetch_add(1);
    if (r.failure == RedisFailure::kTimeout) stats->timeouts.fetch_add(1);
    if (r.failure == RedisFailure::kOverloaded) stats->overloaded.fetch_add(1);
    fn(r);
  };
  size_t in_flight = waiting_.size();
  for (auto& c : connections_) in_flight += c->inFlight();
  if (in_flight >= settings_.max_pending) {
    return counted(RedisResult{RedisFailure::kOverloaded, nullptr, "too many Redis commands waiting"});
  }
  uint64_t deadline = host_.nowNs() + uint64_t(settings_.command_timeout_ms) * kMs;
  if (RedisConnection* c = leastBusyReady()) return c->send(std::move(command), std::move(counted), deadline);
  bool connecting = !started_ || std::any_of(connections_.begin(), connections_.end(),
                                             [](const auto& c) { return c->connecting(); });
  if (!connecting) return counted(RedisResult{RedisFailure::kUnavailable, nullptr, unreachable()});
  waiting_.push_back(Waiting{std::move(command), std::move(counted), deadline});
}

void RedisClient::eval(const RedisScript& script, const std::vector<std::string>& keys,
                       const std::vector<std::string>& args, ReplyFn fn) {
  auto argv = [&](const std::string& how, const std::string& what) {
    std::vector<std::string> v{how, what, std::to_string(keys.size())};
    v.insert(v.end(), keys.begin(), keys.end());
    v.insert(v.end(), args.begin(), args.end());
    return v;
  };
  std::string with_body = formatCommand(argv("EVAL", script.body));
  std::weak_ptr<bool> alive = alive_;
  command(argv("EVALSHA", script.sha1), [this, alive, with_body = std::move(with_body), fn = std::move(fn)](const RedisResult& r) mutable {
    bool unknown = r.failure == RedisFailure::kNone && r.reply && r.reply->type == REDIS_REPLY_ERROR &&
                   std::string_view(r.reply->str, r.reply->len).rfind("NOSCRIPT", 0) == 0;
    auto a = alive.lock();
    if (!unknown || !a || !*a) return fn(r);
    send(std::move(with_body), std::move(fn));  // loads the script for the next EVALSHA too
  });
}

std::string RedisClient::unreachable() const {
  return last_error_.empty() ? "Redis is unreachable" : "Redis is unreachable: " + last_error_;
}

void RedisClient::onReady() {
  while (!waiting_.empty()) {
    RedisConnection* c = leastBusyReady();
    if (!c) return;
    Waiting w = std::move(waiting_.front());
    waiting_.pop_front();
    c->send(std::move(w.command), std::move(w.fn), w.deadline_ns);
  }
}

void RedisClient::tick() {
  uint64_t now = host_.nowNs();
  for (auto& c : connections_) c->tick(now);
  while (!waiting_.empty() && now >= waiting_.front().deadline_ns) {
    Waiting w = std::move(waiting_.front());
    waiting_.pop_front();
    // Never sent: unavailable, not a timeout (a timeout means Redis may have run the command).
    w.fn(RedisResult{RedisFailure::kUnavailable, nullptr, "no Redis connection came up in time"});
  }
  // A connection that failed while commands waited leaves them to fail at once, not at their deadline.
  bool connecting = std::any_of(connections_.begin(), connections_.end(), [](const auto& c) { return c->connecting(); });
  if (!connecting && !anyReady()) {
    std::deque<Waiting> failed;
    failed.swap(waiting_);
    std::string why = unreachable();
    for (auto& w : failed) w.fn(RedisResult{RedisFailure::kUnavailable, nullptr, why});
  }
}

}  // namespace outrigger::redis
