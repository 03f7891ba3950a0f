#include "support/daemon_process.h"
#include "support/child_process.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

namespace outrigger::testing {

namespace {

bool keepTempDirs() {
  const char* keep = std::getenv("OUTRIGGER_KEEP_TEST_DIRS");
  return keep && *keep && std::string_view(keep) != "0";
}

void removeNow(const std::string& dir) {
  std::error_code ignored;
  if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
}

// The folders makeTempDir made in this process, removed when it exits normally (not by a forked
// child's exit, which would take them from under its parent). OUTRIGGER_KEEP_TEST_DIRS=1 keeps
// them, and those removeTempDir would take, for a look after a failure.
struct TempDirs {
  std::mutex mu;
  std::vector<std::string> dirs;
  pid_t owner = ::getpid();

  static TempDirs& get() {
    static TempDirs* all = [] {
      auto* t = new TempDirs;  // never destroyed: the exit handler may run after static destructors
      std::atexit([] { TempDirs::get().removeAll(); });
      return t;
    }();
    return *all;
  }
  void removeAll() {
    if (::getpid() != owner || keepTempDirs()) return;
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& d : dirs) removeNow(d);
    dirs.clear();
  }
};

}  // namespace

std::string makeTempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/outrigger-test-XXXXXX";
  char* d = ::mkdtemp(tmpl.data());
  if (!d) return std::string();
  TempDirs& all = TempDirs::get();
  std::lock_guard<std::mutex> lock(all.mu);
  all.dirs.emplace_back(d);
  return d;
}

void removeTempDir(const std::string& dir) {
  if (!keepTempDirs()) removeNow(dir);
}

std::string basicConfig(const std::string& mock_config, const std::string& extra) {
  return "[server]\nsocket = \"@SOCKET@\"\nworkers = 2\ndrain_grace_ms = 5000\n"
         "[plugins]\ndirs = [\"@PLUGINS@\"]\n"
         "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\n" + mock_config + "\n"
         "[instances.input_rules]\ntype = \"guardrail.rules\"\n[instances.input_rules.config]\n"
         "max_input_bytes = 65536\ndeny_patterns = ['(?i)forbidden phrase']\n"
         "[routes.default]\nguardrails = [\"input_rules\"]\nprovider = \"mock\"\n" + extra;
}

namespace {
std::string substitute(std::string text, const std::string& dir, const std::string& socket) {
  auto replace = [&](const std::string& from, const std::string& to) {
    for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size())) text.replace(p, from.size(), to);
  };
  replace("@SOCKET@", socket);
  replace("@DIR@", dir);
  replace("@PLUGINS@", OUTRIGGER_PLUGIN_DIR);
  return text;
}
}  // namespace

DaemonProcess::DaemonProcess(const std::string& config_text, const std::string& extra_args,
                             const std::string& shell_prefix)
    : extra_args_(extra_args), shell_prefix_(shell_prefix) {
  dir_ = makeTempDir();
  socket_ = dir_ + "/o.sock";
  config_path_ = dir_ + "/outrigger.toml";
  log_path_ = dir_ + "/daemon.log";
  writeConfig(config_text);
  spawn(false);
}

void DaemonProcess::restart() {
  if (alive()) return;
  exit_code_ = -1;
  spawn(true);
}

void DaemonProcess::spawn(bool append_log) {
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    endWithParent(parent);
    FILE* log = std::fopen(log_path_.c_str(), append_log ? "a" : "w");
    if (log) {
      ::dup2(fileno(log), STDOUT_FILENO);
      ::dup2(fileno(log), STDERR_FILENO);
    }
    // A trace store at its default location stays in the test's own directory.
    ::setenv("XDG_STATE_HOME", dir_.c_str(), 1);
    // A benchmark may compare another build's daemon: OUTRIGGER_DAEMON_BIN names it.
    const char* other = std::getenv("OUTRIGGER_DAEMON_BIN");
    std::string cmd = shell_prefix_ + std::string("exec ") + (other && *other ? other : OUTRIGGER_BIN) + " serve --config " + config_path_ + " " + extra_args_;
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
}

DaemonProcess::~DaemonProcess() {
  if (alive()) {
    ::kill(pid_, SIGKILL);
    waitExit(std::chrono::seconds(5));
  }
  removeTempDir(dir_);
}

void DaemonProcess::writeConfig(const std::string& config_text) {
  std::ofstream(config_path_) << substitute(config_text, dir_, socket_);
}

bool DaemonProcess::waitReady(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!alive()) return false;
    RawConnection probe(socket_);
    if (probe.connected()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void DaemonProcess::signal(int sig) { ::kill(pid_, sig); }

namespace {
// The state letter of /proc/<pid>/task/<tid>/stat (after the command name, which may hold
// spaces and parentheses), or 0 when it cannot be read.
char threadState(const std::filesystem::path& stat_path) {
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line)) return 0;
  size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return 0;
  return line[close + 2];
}

// Whether every thread of `pid` is in a stopped state (T, or t when traced).
bool allThreadsStopped(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator tasks("/proc/" + std::to_string(pid) + "/task", ec);
  if (ec) return false;
  bool any = false;
  for (const auto& task : tasks) {
    char state = threadState(task.path() / "stat");
    if (state != 'T' && state != 't') return false;
    any = true;
  }
  return any;
}
}  // namespace

bool DaemonProcess::pause(std::chrono::milliseconds timeout) {
  if (::kill(pid_, SIGSTOP) != 0) return false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!allThreadsStopped(pid_)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool DaemonProcess::reload(const std::string& config_text, int generation, std::chrono::milliseconds timeout) {
  writeConfig(config_text);
  signal(SIGHUP);
  const std::string live = "config generation " + std::to_string(generation) + " is live";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (log().find(live) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

bool DaemonProcess::alive() {
  if (pid_ <= 0 || exit_code_ >= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int DaemonProcess::waitExit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

long DaemonProcess::rssKb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string DaemonProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RawConnection::RawConnection(const std::string& path) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) close();
}

RawConnection::~RawConnection() { close(); }

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::send(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool RawConnection::readExact(char* p, size_t n, std::chrono::steady_clock::time_point deadline) {
  while (n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) return false;
    ssize_t k = ::recv(fd_, p, n, 0);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

std::optional<AlignedFrame> RawConnection::readFrame(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char len[4];
  if (fd_ < 0 || !readExact(len, 4, deadline)) return std::nullopt;
  uint32_t n;
  std::memcpy(&n, len, 4);
  std::string bytes(4 + n, '\0');
  std::memcpy(bytes.data(), len, 4);
  if (!readExact(bytes.data() + 4, n, deadline)) return std::nullopt;
  return AlignedFrame(bytes);
}

bool RawConnection::closedByPeer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    ssize_t k = ::recv(fd_, buf, sizeof buf, 0);
    if (k <= 0) return true;
  }
  return false;
}

std::string awaitRecords(const DaemonProcess& d, size_t count) {
  std::string text;
  for (int i = 0; i < 300; ++i) {
    std::ifstream in(d.dir() + "/records.jsonl");
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    if (static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) >= count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return text;
}

}  // namespace outrigger::testing
