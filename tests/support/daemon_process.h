// Runs the real daemon as a child process on a private socket in a temp directory, and a raw
// socket client for sending arbitrary bytes to it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "support/frames.h"

namespace outrigger::testing {

// A fresh folder under $TMPDIR (else /tmp), removed with everything in it when this process exits
// normally (OUTRIGGER_KEEP_TEST_DIRS=1 keeps it).
std::string makeTempDir();
// Removes a makeTempDir folder now, unless OUTRIGGER_KEEP_TEST_DIRS is set.
void removeTempDir(const std::string& dir);

// A config using the mock provider and the rules guardrail. @SOCKET@, @DIR@ and @PLUGINS@ in
// any config text are replaced before the daemon starts.
std::string basicConfig(const std::string& mock_config = "mode = \"echo\"\nallow_request_overrides = true",
                        const std::string& extra = "");

class DaemonProcess {
 public:
  // `shell_prefix` runs before the daemon in its shell, e.g. "ulimit -n 256; export X=y;".
  explicit DaemonProcess(const std::string& config_text = basicConfig(), const std::string& extra_args = "",
                         const std::string& shell_prefix = "");
  ~DaemonProcess();

  // Starts the daemon again, once the previous one has exited (after signal(SIGKILL) and
  // waitExit, say), with the same config, socket path and directory; its log is appended.
  void restart();
  bool waitReady(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void signal(int sig);
  // Sends SIGSTOP and waits until every thread of the daemon is stopped, as /proc shows it. The
  // kernel stops the others only once the one thread the signal woke has run, so on a busy
  // machine a worker may answer requests for milliseconds after kill() returned.
  // False when the daemon was not all stopped within `timeout`.
  bool pause(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Waits for exit; the exit code, or -1 on timeout (the process is then still running).
  int waitExit(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  bool alive();
  // Rewrites the config file (for reload tests).
  void writeConfig(const std::string& config_text);
  // Rewrites the config, sends SIGHUP and waits until the log says generation `generation` is live.
  bool reload(const std::string& config_text, int generation, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  long rssKb() const;
  std::string log() const;

  const std::string& socket() const { return socket_; }
  // For a daemon that serves somewhere else than the private temp dir's o.sock.
  void setSocket(std::string path) { socket_ = std::move(path); }
  const std::string& dir() const { return dir_; }
  const std::string& configPath() const { return config_path_; }
  pid_t pid() const { return pid_; }

 private:
  void spawn(bool append_log);

  std::string dir_, socket_, config_path_, log_path_, extra_args_, shell_prefix_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// The text of `dir()/records.jsonl` (an exporter.jsonl path in the test's config) once it holds
// `count` lines, or what it holds after 3 s.
std::string awaitRecords(const DaemonProcess& d, size_t count);

// A blocking client speaking raw frames.
class RawConnection {
 public:
  explicit RawConnection(const std::string& socket_path);
  ~RawConnection();
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // The next frame, or nullopt on EOF/timeout.
  std::optional<AlignedFrame> readFrame(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True when the peer closed the connection within the timeout.
  bool closedByPeer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void close();

 private:
  bool readExact(char* p, size_t n, std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
};

}  // namespace outrigger::testing
