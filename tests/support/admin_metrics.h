// Reading the daemon's admin endpoints from a test: the port comes from the daemon's log line.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "support/daemon_process.h"
#include "support/raw_http.h"

namespace outrigger::testing {

// The whole /metrics text from the admin server (HTTP headers included), or "" when the daemon
// has no admin listener.
inline std::string adminMetricsText(const DaemonProcess& d) {
  std::smatch m;
  std::string log = d.log();
  if (!std::regex_search(log, m, std::regex("admin endpoints listening on 127\\.0\\.0\\.1:(\\d+)"))) return "";
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(m[1])));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string text;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string get = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ::send(fd, get.data(), get.size(), MSG_NOSIGNAL);
    char buf[65536];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 5000) > 0) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return text;
}

// GET `path` from the admin server: the status and body (status 0 when nothing answered).
inline HttpReply adminGet(const DaemonProcess& d, const std::string& path) {
  return roundTrip(adminPort(d), "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

// The value of a metric line (labels included in `name`) from the admin server, -1 if absent.
inline double adminMetric(const DaemonProcess& d, const std::string& name) {
  std::string text = adminMetricsText(d);
  size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

// Reads adminMetric until `settled` holds of its value, for at most `timeout`: what the daemon
// does on another thread after an action (a close seen, a refusal counted) takes a busy machine a
// while. The last value read.
template <class Pred>
double awaitAdminMetric(const DaemonProcess& d, const std::string& name, Pred settled,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  double value = adminMetric(d, name);
  while (!settled(value) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    value = adminMetric(d, name);
  }
  return value;
}

}  // namespace outrigger::testing
