#include "ipc/listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "ipc/runtime_dir.h"

namespace outrigger::ipc {

Status socketPathUsable(const std::string& path) {
  sockaddr_un addr{};
  // libuv cuts a longer path at bind and serves on the cut name: refuse it before anything else.
  if (path.size() >= sizeof addr.sun_path) {
    return Status(Code::kInvalidArgument, path + ": socket path too long (" + std::to_string(path.size()) +
                                              " bytes; Unix sockets allow at most " +
                                              std::to_string(sizeof addr.sun_path - 1) + ")");
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status(Code::kNotFound, path + ": the directory " + dir + " does not exist");
  }
  return Status::ok();
}

Status claimSocketPath(const std::string& path) {
  if (Status s = socketPathUsable(path); !s.isOk()) return s;
  sockaddr_un addr{};
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Status::ok();
  if (!S_ISSOCK(st.st_mode)) return Status(Code::kAlreadyExists, path + " exists and is not a socket");
  if (st.st_uid != ::geteuid()) {
    return Status(Code::kPermissionDenied, path + " belongs to uid " + std::to_string(st.st_uid) + ", not to uid " +
                                               std::to_string(::geteuid()) +
                                               "; refusing to serve on or remove another user's socket");
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status(Code::kInternal, "socket(): " + std::string(std::strerror(errno)));
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  ::close(fd);
  if (rc == 0) return Status(Code::kAlreadyExists, path + ": another Outrigger is already serving on this socket");
  if (err != ECONNREFUSED && err != ENOENT) {
    return Status(Code::kFailedPrecondition, path + ": cannot tell whether the socket is live: " + std::strerror(err));
  }
  ORLOG(LogLevel::kInfo, "listener", "removing stale socket " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status(Code::kPermissionDenied, path + ": cannot remove stale socket: " + std::strerror(errno));
  }
  return Status::ok();
}

Listener::Listener(uv_loop_t* loop, AcceptFn on_accept) : loop_(loop), on_accept_(std::move(on_accept)) {}

Listener::~Listener() = default;

Status Listener::listen(const std::string& path, uint32_t mode) {
  if (Status s = claimSocketPath(path); !s.isOk()) return s;
  uv_pipe_init(loop_, &pipe_, 0);
  initialized_ = true;
  pipe_.data = this;
  if (int rc = uv_pipe_bind(&pipe_, path.c_str()); rc != 0) {
    return Status(Code::kUnavailable, path + ": bind failed: " + uv_strerror(rc));
  }
  path_ = path;
  if (mode & 0007) {
    ORLOG(LogLevel::kWarn, "listener", path + ": socket_mode " + std::to_string((mode >> 6) & 7) +
                                           std::to_string((mode >> 3) & 7) + std::to_string(mode & 7) +
                                           " lets every local user connect; 0660 with a shared group is safer");
  }
  if (std::string warning = socketDirectoryWarning(path); !warning.empty()) ORLOG(LogLevel::kWarn, "listener", warning);
  if (::chmod(path.c_str(), mode) != 0) {
    return Status(Code::kPermissionDenied, path + ": chmod failed: " + std::strerror(errno));
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&pipe_), 1024, &Listener::onConnection); rc != 0) {
    return Status(Code::kUnavailable, path + ": listen failed: " + uv_strerror(rc));
  }
  listening_ = true;
  return Status::ok();
}

void Listener::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (status < 0) {
    // libuv already closed the connection it could not take (EMFILE: its reserve-fd trick).
    ++self->accept_errors_;
    self->accept_log_.write(LogLevel::kWarn, "listener",
                            self->path_ + ": accept failed: " + uv_strerror(status) + "; the connection was dropped");
    return;
  }
  // libuv has already accepted the fd; take it over through a throwaway handle and give a
  // duplicate to the worker, whose own loop then owns it.
  auto* client = new uv_pipe_t;
  uv_pipe_init(self->loop_, client, 0);
  int fd = -1;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) == 0) {
    uv_os_fd_t raw;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(client), &raw) == 0) fd = ::fcntl(raw, F_DUPFD_CLOEXEC, 0);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(client), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
  if (fd < 0) {
    ++self->accept_errors_;
    self->accept_log_.write(LogLevel::kWarn, "listener", self->path_ + ": could not take an accepted connection");
    return;
  }
  self->on_accept_(fd, peerCredentials(fd));
}

void Listener::close() {
  if (!initialized_) return;
  initialized_ = false;
  if (listening_) ::unlink(path_.c_str());
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), nullptr);
}

}  // namespace outrigger::ipc
