// Notices when the config file changes so the daemon reloads it as on SIGHUP. Kubernetes updates
// a mounted ConfigMap by swapping a `..data` symlink in the file's directory, and editors write a
// new file and rename it over the old one, so the directory is watched, not the file: an event
// for the file's name or `..data` starts a debounce, and when it settles the file is read and
// compared with what was last applied, so only a real change reloads.
//
// The watch is inotify's, asked only for what ends a change to a name (a writer closing the
// file, a rename onto it, a create or delete), never for each write: the trace store, a JSONL
// log or a spool may share the directory, and a watch on every write (what libuv's fs_event
// asks for) made the kernel queue an event for each of their writes and woke the loop to read
// it. So an edit is seen when its writer closes the file (a file created at the config's name
// too: a slow writer's half is never read); a link made there is seen at once; a program that
// writes the file and keeps it open is seen on SIGHUP. If the folder itself goes, the watch
// says so in the log and SIGHUP remains.
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

  // Starts watching from `applied_hash`, the config::textHash of the text the daemon runs
  // (empty: the file as it is now); false (logged) when the directory cannot be watched.
  bool start(std::string applied_hash = "");
  // Stops and closes the handles (their memory goes with their close callbacks).
  void stop();

  // The file as it is now is what the daemon applies (a SIGHUP reload reads it): an edit that a
  // SIGHUP already applied must not reload again when the watch's debounce settles.
  void noteApplied() { seen_ = contentHash(); }

  // Events the kernel delivered for the directory, about any name (tests: writes to a
  // neighbouring file deliver none).
  uint64_t eventsDelivered() const { return events_delivered_; }

 private:
  static void onReadable(uv_poll_t* h, int status, int events);
  static void onSettled(uv_timer_t* t);
  std::string contentHash() const;

  uv_loop_t* loop_;
  std::string path_, dir_, name_;
  std::function<void()> on_change_;
  int inotify_fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;
  std::string seen_;  // the hash of the content last applied (or found at start)
  uint64_t events_delivered_ = 0;
};

}  // namespace outrigger::daemon
