#include "otlp/slow_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace outrigger::testing {
namespace {

int connectTo(int port) {
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

bool sendAll(int fd, const char* p, ssize_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= k;
  }
  return true;
}

}  // namespace

SlowProxy::SlowProxy(int upstream_port, std::chrono::milliseconds delay) : upstream_port_(upstream_port), delay_(delay) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(listen_fd_, 64) == 0 &&
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port_ = ntohs(a.sin_port);
  }
  acceptor_ = std::thread([this] { acceptLoop(); });
}

SlowProxy::~SlowProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : relays_) t.join();
}

void SlowProxy::acceptLoop() {
  while (!stopping_) {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(client);
    relays_.emplace_back([this, client] { relay(client); });
  }
}

// A request begins with bytes from the client while none is held; it is held until the
// collector's first byte back. Keep-alive connections carry one request after another.
void SlowProxy::relay(int client) {
  int upstream = connectTo(upstream_port_);
  if (upstream >= 0) {
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(upstream);
  }
  bool holding = false;
  char buf[64 * 1024];
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  while (upstream >= 0 && !stopping_ && ::poll(fds, 2, 200) >= 0) {
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (!holding) {
        holding = true;
        ++requests_;
        int now = ++held_;
        for (int m = most_.load(); now > m && !most_.compare_exchange_weak(m, now);) {
        }
        std::this_thread::sleep_for(delay_);
      }
      if (!sendAll(upstream, buf, n)) break;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(upstream, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (holding) {
        holding = false;
        --held_;
      }
      if (!sendAll(client, buf, n)) break;
    }
  }
  if (holding) --held_;
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : {client, upstream}) {
    if (fd < 0) continue;
    ::close(fd);
    fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
  }
}

}  // namespace outrigger::testing
