// The Unix-socket listener on the main thread. Accepted connections are handed (as fds) to a
// worker chosen by the caller.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "common/rate_limited_log.h"
#include "common/status.h"
#include "ipc/peer_policy.h"

namespace outrigger::ipc {

// Removes a stale socket file at `path`; fails when a live server answers there, when the path is
// something other than a socket, or when the socket belongs to another uid (a squatter's socket
// is neither served on nor removed: its owner may be waiting for our clients).
Status claimSocketPath(const std::string& path);
// The part of claimSocketPath that needs no socket: the path fits a sockaddr_un and its
// directory exists (`outrigger check` runs it; a daemon may be serving there meanwhile).
Status socketPathUsable(const std::string& path);

class Listener {
 public:
  // Gets each accepted fd with the credentials of the process at the other end.
  using AcceptFn = std::function<void(int fd, const PeerCredentials& peer)>;

  Listener(uv_loop_t* loop, AcceptFn on_accept);
  ~Listener();

  // Binds, sets the file mode, and listens.
  Status listen(const std::string& path, uint32_t mode);
  // Stops accepting and removes the socket file.
  void close();
  // accept() failures (out of descriptors, ...), each also logged at a bounded rate.
  uint64_t acceptErrors() const { return accept_errors_; }

 private:
  static void onConnection(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  AcceptFn on_accept_;
  uv_pipe_t pipe_;
  std::string path_;
  bool listening_ = false;
  bool initialized_ = false;
  uint64_t accept_errors_ = 0;
  RateLimitedLog accept_log_;
};

}  // namespace outrigger::ipc
