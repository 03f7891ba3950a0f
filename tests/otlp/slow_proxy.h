// A TCP relay in front of the collector that holds each request for a while before passing it
// on, as a distant or loaded collector would, and counts how many requests it held at once: the
// exporter's POSTs in flight, seen from the wire. One thread per connection; test use only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace outrigger::testing {

class SlowProxy {
 public:
  // Relays 127.0.0.1:port() to 127.0.0.1:`upstream_port`, each request held `delay` first.
  SlowProxy(int upstream_port, std::chrono::milliseconds delay);
  ~SlowProxy();

  int port() const { return port_; }
  // The most requests that were between their first byte and their answer's first byte at once.
  int mostAtOnce() const { return most_.load(); }
  int requests() const { return requests_.load(); }

 private:
  void acceptLoop();
  void relay(int client);

  int upstream_port_;
  std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> held_{0}, most_{0}, requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> relays_;
  std::vector<int> fds_;  // open sockets, shut down at the end so the relays return
};

}  // namespace outrigger::testing
