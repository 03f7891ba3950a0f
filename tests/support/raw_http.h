// A raw TCP HTTP/1.1 client for tests of the daemon's HTTP front (no HTTP library, so hostile
// and odd requests go out exactly as written), and the ports the daemon logs at start.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <regex>
#include <string>
#include <thread>

#include "support/daemon_process.h"

namespace outrigger::testing {

// A blocking TCP connection to 127.0.0.1:port; -1 when it cannot be made.
inline int connectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class Tcp {
 public:
  explicit Tcp(int port) : fd_(connectLoopback(port)) {}
  ~Tcp() {
    if (fd_ >= 0) ::close(fd_);
  }
  Tcp(const Tcp&) = delete;
  Tcp& operator=(const Tcp&) = delete;

  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  // Reads until `done(text)` holds, the peer closes, or the timeout passes.
  std::string readUntil(const std::function<bool(const std::string&)>& done, std::chrono::milliseconds timeout,
                        bool* closed = nullptr) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(out)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Reads `count` complete responses (Content-Length framed).
  std::string responses(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return readUntil([count](const std::string& s) { return completeResponses(s) >= count; }, timeout);
  }
  static size_t completeResponses(const std::string& s) {
    size_t n = 0, pos = 0;
    while (true) {
      size_t end = s.find("\r\n\r\n", pos);
      if (end == std::string::npos) return n;
      std::smatch m;
      std::string head = s.substr(pos, end - pos);
      size_t len = std::regex_search(head, m, std::regex("[Cc]ontent-[Ll]ength: (\\d+)")) ? std::stoul(m[1]) : 0;
      if (s.size() < end + 4 + len) return n;
      pos = end + 4 + len;
      ++n;
    }
  }

 private:
  int fd_ = -1;
};

// A POST request with a JSON body.
inline std::string post(const std::string& body, const std::string& path = "/v1/chat/completions") {
  return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The port of the daemon's listener whose startup line matches `pattern` (with one group for the
// port), waiting up to 5 s for the line; 0 when it never appears.
inline int loggedPort(const DaemonProcess& d, const std::string& pattern) {
  std::smatch m;
  for (int i = 0; i < 500; ++i) {
    std::string log = d.log();
    if (std::regex_search(log, m, std::regex(pattern))) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

inline int httpPort(const DaemonProcess& d) { return loggedPort(d, "API listening on 127\\.0\\.0\\.1:(\\d+)"); }
inline int adminPort(const DaemonProcess& d) { return loggedPort(d, "admin endpoints listening on 127\\.0\\.0\\.1:(\\d+)"); }

// One response: its status and body.
struct HttpReply {
  int status = 0;
  std::string body;
};

// Sends `request` on a new connection and reads one response.
inline HttpReply roundTrip(int port, const std::string& request,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  Tcp c(port);
  HttpReply reply;
  if (!c.send(request)) return reply;
  std::string r = c.responses(1, timeout);
  if (r.rfind("HTTP/1.1 ", 0) == 0 && r.size() >= 12) reply.status = std::stoi(r.substr(9, 3));
  size_t end = r.find("\r\n\r\n");
  if (end != std::string::npos) reply.body = r.substr(end + 4);
  return reply;
}

}  // namespace outrigger::testing
