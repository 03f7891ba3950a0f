#include "redis_server.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/child_process.h"
#include "support/daemon_process.h"
#include "support/loopback_ports.h"

namespace outrigger::testing {

namespace {

std::string text(const redisReply* r) {
  if (!r) return "ERR:no reply";
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR: return "ERR:" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r->elements; ++i) out += (i ? "\n" : "") + text(r->element[i]);
      return out;
    }
  }
  return "";
}

}  // namespace

bool RedisServer::accepting() const {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(uint16_t(port_));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

RedisServer::RedisServer(std::string extra, bool tls) : extra_(std::move(extra)), tls_(tls) {
  dir_ = makeTempDir();
  port_ = stablePorts(1)[0];  // killed and restarted on it while daemons reconnect
  if (tls_) {
    std::string make = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext "
                       "subjectAltName=DNS:localhost -keyout " + dir_ + "/key.pem -out " + dir_ + "/cert.pem 2>/dev/null";
    if (std::system(make.c_str()) != 0) throw std::runtime_error("openssl could not make a test certificate");
    extra_ += " --tls-cert-file " + dir_ + "/cert.pem --tls-key-file " + dir_ + "/key.pem --tls-auth-clients no";
  }
  if (size_t p = extra_.find("--requirepass "); p != std::string::npos) {
    password_ = extra_.substr(p + 14, extra_.find(' ', p + 14) - (p + 14));
  }
  start();
}

RedisServer::~RedisServer() { kill(); }

void RedisServer::start() {
  std::string ports = tls_ ? "--port 0 --tls-port " + std::to_string(port_) : "--port " + std::to_string(port_);
  std::string cmd = "exec redis-server " + ports + " --bind 127.0.0.1 --save '' --appendonly no --dir " +
                    dir_ + " --logfile " + dir_ + "/redis.log " + extra_;
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    outrigger::testing::endWithParent(parent);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (!waitReady(std::chrono::seconds(10))) throw std::runtime_error("redis-server did not start on port " + std::to_string(port_));
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::restart() {
  kill();
  start();
}

bool RedisServer::waitReady(std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (tls_ ? accepting() : call({"PING"}) == "PONG") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string RedisServer::call(const std::vector<std::string>& args) const {
  redisContext* c = redisConnect("127.0.0.1", port_);
  if (!c || c->err) {
    if (c) redisFree(c);
    return "ERR:cannot connect";
  }
  if (!password_.empty()) freeReplyObject(redisCommand(c, "AUTH %s", password_.c_str()));
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(redisCommandArgv(c, int(argv.size()), argv.data(), lens.data()));
  std::string out = text(reply);
  if (reply) freeReplyObject(reply);
  redisFree(c);
  return out;
}

bool RedisServer::busy(std::chrono::milliseconds wait) const {
  timeval tv{long(wait.count() / 1000), long((wait.count() % 1000) * 1000)};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return false;
  }
  redisSetTimeout(c, tv);
  if (!password_.empty()) freeReplyObject(redisCommand(c, "AUTH %s", password_.c_str()));
  auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
  bool answered = reply != nullptr;
  if (reply) freeReplyObject(reply);
  redisFree(c);
  return !answered;
}

std::vector<std::string> RedisServer::keys(const std::string& pattern) const {
  std::vector<std::string> out;
  std::istringstream in(call({"KEYS", pattern}));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace outrigger::testing
