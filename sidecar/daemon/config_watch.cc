#include "daemon/config_watch.h"

#include <fstream>
#include <functional>
#include <sstream>

#include "common/log.h"

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
  std::string s = text.str();
  return std::to_string(std::hash<std::string>{}(s)) + "/" + std::to_string(s.size());
}

bool ConfigWatch::start() {
  seen_ = contentHash();
  event_ = new uv_fs_event_t;
  timer_ = new uv_timer_t;
  uv_fs_event_init(loop_, event_);
  uv_timer_init(loop_, timer_);
  event_->data = this;
  timer_->data = this;
  if (int rc = uv_fs_event_start(event_, &ConfigWatch::onEvent, dir_.c_str(), 0); rc != 0) {
    ORLOG(LogLevel::kWarn, "reload", "cannot watch " + dir_ + " for config changes (" + uv_strerror(rc) +
                                         "); SIGHUP still reloads");
    stop();
    return false;
  }
  ORLOG(LogLevel::kInfo, "reload", "watching " + path_ + " for changes");
  return true;
}

void ConfigWatch::stop() {
  auto close = [](uv_handle_t* h, auto deleter) {
    if (h && !uv_is_closing(h)) uv_close(h, deleter);
  };
  if (event_) {
    uv_fs_event_stop(event_);
    close(reinterpret_cast<uv_handle_t*>(event_), [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    event_ = nullptr;
  }
  if (timer_) {
    uv_timer_stop(timer_);
    close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
  }
}

void ConfigWatch::onEvent(uv_fs_event_t* h, const char* filename, int, int status) {
  auto* self = static_cast<ConfigWatch*>(h->data);
  // The daemon's own files may share the directory (a log, the trace store): only the config's
  // name, or Kubernetes' `..data` swap, counts. No name (some file systems): check anyway.
  std::string_view name = filename ? filename : "";
  if (status != 0 || !(name.empty() || name == self->name_ || name == "..data")) return;
  uv_timer_start(self->timer_, &ConfigWatch::onSettled, kDebounceMs, 0);
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
