// Notices when the config file changes so the daemon reloads it as on SIGHUP. Kubernetes updates
// a mounted ConfigMap by swapping a `..data` symlink in the file's directory, and editors write a
// new file and rename it over the old one, so the directory is watched, not the file: an event
// for the file's name or `..data` starts a debounce, and when it settles the file is read and
// compared with what was last applied, so only a real change reloads.
// Thread: the daemon's main loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

namespace outrigger::daemon {

class ConfigWatch {
 public:
  static constexpr uint64_t kDebounceMs = 300;

  // `on_change` runs on the loop when the file's content differs from the last content seen.
  ConfigWatch(uv_loop_t* loop, std::string path, std::function<void()> on_change);
  ~ConfigWatch();
  ConfigWatch(const ConfigWatch&) = delete;
  ConfigWatch& operator=(const ConfigWatch&) = delete;

  // Starts watching; false (logged) when the directory cannot be watched.
  bool start();
  // Stops and closes the handles (their memory goes with their close callbacks).
  void stop();

 private:
  static void onEvent(uv_fs_event_t* h, const char* filename, int events, int status);
  static void onSettled(uv_timer_t* t);
  std::string contentHash() const;

  uv_loop_t* loop_;
  std::string path_, dir_, name_;
  std::function<void()> on_change_;
  uv_fs_event_t* event_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  std::string seen_;  // the hash of the content last applied (or found at start)
};

}  // namespace outrigger::daemon
