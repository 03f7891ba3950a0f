#include "daemon/config_watch.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>
#include <functional>
#include <sstream>

#include "common/log.h"
#include "config/config.h"

namespace outrigger::daemon {

ConfigWatch::ConfigWatch(uv_loop_t* loop, std::string path, std::function<void()> on_change)
    : loop_(loop), path_(std::move(path)), on_change_(std::move(on_change)) {
  size_t slash = path_.rfind('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  name_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
}

ConfigWatch::~ConfigWatch() { stop(); }

std::string ConfigWatch::contentHash() const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return "unreadable";
  std::stringstream text;
  text << in.rdbuf();
  return config::textHash(text.str());
}

bool ConfigWatch::start(std::string applied_hash) {
  seen_ = applied_hash.empty() ? contentHash() : std::move(applied_hash);
  // What ends a change to a name; IN_MODIFY (each write) is left out on purpose (see the header).
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB;
  auto fail = [this](const std::string& why) {
    ORLOG(LogLevel::kWarn, "reload",
          "cannot watch " + dir_ + " for config changes (" + why + "); SIGHUP still reloads");
    stop();
    return false;
  };
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0 || ::inotify_add_watch(inotify_fd_, dir_.c_str(), kMask) < 0) {
    int error = errno;
    return fail(std::strerror(error));
  }
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  poll_ = new uv_poll_t;
  if (int rc = uv_poll_init(loop_, poll_, inotify_fd_); rc != 0) {
    delete poll_;  // never initialized: nothing for the loop to close
    poll_ = nullptr;
    return fail(uv_strerror(rc));
  }
  poll_->data = this;
  if (int rc = uv_poll_start(poll_, UV_READABLE, &ConfigWatch::onReadable); rc != 0) return fail(uv_strerror(rc));
  ORLOG(LogLevel::kInfo, "reload", "watching " + path_ + " for changes");
  // An edit between reading the config and watching it (building the first chain takes a
  // while) made no event this watch saw: compare once, as a settled event would.
  if (contentHash() != seen_) uv_timer_start(timer_, &ConfigWatch::onSettled, kDebounceMs, 0);
  return true;
}

void ConfigWatch::stop() {
  auto close = [](uv_handle_t* h, auto deleter) {
    if (h && !uv_is_closing(h)) uv_close(h, deleter);
  };
  if (poll_) {
    uv_poll_stop(poll_);
    close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (inotify_fd_ >= 0) {
    ::close(inotify_fd_);  // libuv has stopped polling it
    inotify_fd_ = -1;
  }
  if (timer_) {
    uv_timer_stop(timer_);
    close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
}

void ConfigWatch::onReadable(uv_poll_t* h, int status, int) {
  auto* self = static_cast<ConfigWatch*>(h->data);
  if (status != 0) {
    ORLOG(LogLevel::kWarn, "reload", std::string("the config watch failed (") + uv_strerror(status) +
                                         "); SIGHUP still reloads");
    uv_poll_stop(h);
    return;
  }
  alignas(inotify_event) char buf[4096];
  bool relevant = false;
  for (;;) {
    ssize_t n = ::read(self->inotify_fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      ++self->events_delivered_;
      if (e->mask & IN_IGNORED) {  // the folder went away or was unmounted: the watch is gone
        ORLOG(LogLevel::kWarn, "reload", self->dir_ + " is no longer watched; SIGHUP still reloads");
        continue;
      }
      // The daemon's own files may share the directory (a log, the trace store): only the
      // config's name, or Kubernetes' `..data` swap, counts. An overflow may have lost either.
      std::string_view name = e->len ? std::string_view(e->name) : std::string_view();
      if (e->mask & IN_Q_OVERFLOW) relevant = true;
      if (name != self->name_ && name != "..data") continue;
      // A regular file just created is still being written: its close (IN_CLOSE_WRITE) counts,
      // so a slow writer is not read half way. A link created there is complete at once.
      struct stat st;
      if ((e->mask & IN_CREATE) && ::lstat(self->path_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) continue;
      relevant = true;
    }
  }
  if (relevant) uv_timer_start(self->timer_, &ConfigWatch::onSettled, kDebounceMs, 0);
}

void ConfigWatch::onSettled(uv_timer_t* t) {
  auto* self = static_cast<ConfigWatch*>(t->data);
  std::string now = self->contentHash();
  if (now == self->seen_) return;
  self->seen_ = now;
  ORLOG(LogLevel::kInfo, "reload", "the config file changed; reloading");
  self->on_change_();
}

}  // namespace outrigger::daemon
