#include "http/http_listener.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ipc/listener.h"

namespace outrigger::http {

HttpListener::HttpListener(uv_loop_t* loop, AcceptFn on_accept) : loop_(loop), on_accept_(std::move(on_accept)) {}

// The handle lives inside the listener: the owner keeps the listener until the loop has run
// the close (the daemon destroys listeners only after its loop finished).
HttpListener::~HttpListener() = default;

Status HttpListener::listen(const std::string& address, uint32_t mode) {
  if (address.rfind("unix:", 0) == 0) return listenUnix(address.substr(5), mode);
  return listenTcp(address);
}

Status HttpListener::listenTcp(const std::string& address) {
  size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  int port = std::atoi(address.c_str() + colon + 1);
  sockaddr_storage addr{};
  bool v6 = !host.empty() && host.front() == '[';
  if (v6) host = host.substr(1, host.size() - 2);
  int rc = v6 ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return Status(Code::kInvalidArgument, address + ": not a numeric IP address and port");
  uv_tcp_init(loop_, &uv_.tcp);
  initialized_ = true;
  uv_.handle.data = this;
  if ((rc = uv_tcp_bind(&uv_.tcp, reinterpret_cast<sockaddr*>(&addr), 0)) != 0 ||
      (rc = uv_listen(reinterpret_cast<uv_stream_t*>(&uv_.tcp), 1024, &HttpListener::onConnection)) != 0) {
    return Status(Code::kUnavailable, address + ": cannot listen: " + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&uv_.tcp, reinterpret_cast<sockaddr*>(&bound), &len);
  char ip[INET6_ADDRSTRLEN] = {0};
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&bound);
    uv_ip6_name(a, ip, sizeof ip);
    bound_ = "[" + std::string(ip) + "]:" + std::to_string(ntohs(a->sin6_port));
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&bound);
    uv_ip4_name(a, ip, sizeof ip);
    bound_ = std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
  }
  return Status::ok();
}

Status HttpListener::listenUnix(const std::string& path, uint32_t mode) {
  if (Status s = ipc::claimSocketPath(path); !s.isOk()) return s;
  uv_pipe_init(loop_, &uv_.pipe, 0);
  initialized_ = true;
  is_unix_ = true;
  uv_.handle.data = this;
  if (int rc = uv_pipe_bind(&uv_.pipe, path.c_str()); rc != 0) {
    return Status(Code::kUnavailable, path + ": bind failed: " + uv_strerror(rc));
  }
  unix_path_ = path;
  if (::chmod(path.c_str(), mode) != 0) {
    return Status(Code::kPermissionDenied, path + ": chmod failed: " + std::strerror(errno));
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&uv_.pipe), 1024, &HttpListener::onConnection); rc != 0) {
    return Status(Code::kUnavailable, path + ": listen failed: " + uv_strerror(rc));
  }
  bound_ = "unix:" + path;
  return Status::ok();
}

void HttpListener::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<HttpListener*>(server->data);
  if (status < 0) {
    ++self->accept_errors_;
    self->accept_log_.write(LogLevel::kWarn, "http", self->bound_ + ": accept failed: " + uv_strerror(status) +
                                                         "; the connection was dropped");
    return;
  }
  // Accept through a throwaway handle and hand a duplicate to the receiver's own loop.
  union Client {
    uv_handle_t handle;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  };
  auto* client = new Client;
  if (self->is_unix_) uv_pipe_init(self->loop_, &client->pipe, 0);
  else uv_tcp_init(self->loop_, &client->tcp);
  int fd = -1;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&client->handle)) == 0) {
    uv_os_fd_t raw;
    if (uv_fileno(&client->handle, &raw) == 0) fd = ::fcntl(raw, F_DUPFD_CLOEXEC, 0);
  }
  uv_close(&client->handle, [](uv_handle_t* h) { delete reinterpret_cast<Client*>(h); });
  if (fd < 0) {
    ++self->accept_errors_;
    self->accept_log_.write(LogLevel::kWarn, "http", self->bound_ + ": could not take an accepted connection");
    return;
  }
  self->on_accept_(fd, self->is_unix_);
}

void HttpListener::close() {
  if (!initialized_) return;
  initialized_ = false;
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  uv_close(&uv_.handle, nullptr);
}

}  // namespace outrigger::http
