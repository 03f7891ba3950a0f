#include "support/loopback_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>

namespace outrigger::testing {
namespace {

// The first port of the kernel's ephemeral range (32768 when unreadable).
int ephemeralLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0, high = 0;
  return in >> low >> high && low > 2048 ? low : 32768;
}

// A socket bound to 127.0.0.1:`port` (0: the kernel picks), or -1; *bound gets the port.
int bindLoopback(int port, int* bound) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  *bound = ntohs(a.sin_port);
  return fd;
}

}  // namespace

std::vector<int> stablePorts(size_t n) {
  const int low = 1024, high = ephemeralLow() - 1;
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(low, high);
  std::vector<int> fds, ports;
  for (int tries = 0; ports.size() < n && tries < 1000; ++tries) {
    int port = 0, fd = bindLoopback(pick(rng), &port);
    if (fd < 0) continue;
    fds.push_back(fd);
    ports.push_back(port);
  }
  while (ports.size() < n) {
    int port = 0, fd = bindLoopback(0, &port);
    if (fd >= 0) fds.push_back(fd);
    ports.push_back(port);
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

}  // namespace outrigger::testing
