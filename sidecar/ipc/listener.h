// The Unix-socket listener on the main thread. Accepted connections are handed (as fds) to a
// worker chosen by the caller.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "common/status.h"

namespace outrigger::ipc {

// Removes a stale socket file at `path`; fails when a live server answers there, or the path is
// something other than a socket.
Status claimSocketPath(const std::string& path);

class Listener {
 public:
  using AcceptFn = std::function<void(int fd)>;

  Listener(uv_loop_t* loop, AcceptFn on_accept);
  ~Listener();

  // Binds, sets the file mode, and listens.
  Status listen(const std::string& path, uint32_t mode);
  // Stops accepting and removes the socket file.
  void close();

 private:
  static void onConnection(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  AcceptFn on_accept_;
  uv_pipe_t pipe_;
  std::string path_;
  bool listening_ = false;
  bool initialized_ = false;
};

}  // namespace outrigger::ipc
