// A listening socket on the main thread for the HTTP and admin fronts: TCP ("127.0.0.1:8080",
// "[::1]:8080", port 0 picks a free port) or a Unix socket ("unix:/path"). Each accepted
// connection is handed over as a file descriptor the receiver then owns.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "common/rate_limited_log.h"
#include "common/status.h"

namespace outrigger::http {

class HttpListener {
 public:
  using AcceptFn = std::function<void(int fd, bool is_unix)>;

  HttpListener(uv_loop_t* loop, AcceptFn on_accept);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds and listens on `address`; `mode` is the file mode of a Unix socket.
  Status listen(const std::string& address, uint32_t mode);
  // The address actually bound ("127.0.0.1:41234", "unix:/path"), for logs and tests.
  const std::string& boundAddress() const { return bound_; }
  // Stops accepting (removes a Unix socket file). The handle is freed with the listener.
  void close();
  // accept() failures (out of descriptors, ...), each also logged at a bounded rate.
  uint64_t acceptErrors() const { return accept_errors_; }

 private:
  static void onConnection(uv_stream_t* server, int status);
  Status listenTcp(const std::string& address);
  Status listenUnix(const std::string& path, uint32_t mode);

  uv_loop_t* loop_;
  AcceptFn on_accept_;
  union {
    uv_handle_t handle;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } uv_;
  bool is_unix_ = false;
  uint64_t accept_errors_ = 0;
  RateLimitedLog accept_log_;
  bool initialized_ = false;
  std::string bound_;
  std::string unix_path_;
};

}  // namespace outrigger::http
