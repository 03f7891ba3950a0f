// A real redis-server on a loopback port for one test, in a private directory, with no
// persistence; it can be killed and started again on the same port. `call` runs one command
// through hiredis' blocking client (the test's own view of what the sidecars wrote).
#pragma once

#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace outrigger::testing {

class RedisServer {
 public:
  // `extra` is appended to redis-server's arguments, e.g. "--requirepass secret". With `tls` the
  // port speaks only TLS, with a certificate for localhost made for the test (caFile()); `call`
  // cannot reach it then.
  explicit RedisServer(std::string extra = "", bool tls = false);
  ~RedisServer();

  int port() const { return port_; }
  std::string caFile() const { return dir_ + "/cert.pem"; }
  void kill();     // SIGKILL, waited for
  void restart();  // on the same port, empty
  // One command (arguments as given); the reply as text: a string, an integer, a status, an
  // error prefixed "ERR:", "nil", or an array's elements joined by '\n'.
  std::string call(const std::vector<std::string>& args) const;
  std::vector<std::string> keys(const std::string& pattern) const;
  // True when a PING gets no answer within `wait` (a script keeps the server busy).
  bool busy(std::chrono::milliseconds wait) const;

 private:
  void start();
  bool waitReady(std::chrono::milliseconds timeout) const;
  bool accepting() const;

  std::string dir_, extra_, password_;
  bool tls_ = false;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace outrigger::testing
