// Resource benchmark for hostile socket clients: what idle connections, connections that
// announce a large frame and send nothing, and silent connections cost the daemon, and how soon
// the silent ones are closed (-1: still open when the benchmark stopped waiting). With --baseline-bin, the same figures for another build's daemon
// in the same run (e.g. the previous release), printed side by side.
//   resource_bench [--connections N] [--baseline-bin PATH]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon_process.h"

using namespace std::chrono;
using outrigger::testing::DaemonProcess;
using outrigger::testing::RawConnection;

namespace {

struct Figures {
  long idle_kb = 0;
  double kb_per_idle_connection = 0;
  long announced_held_kb = 0;   // RSS while 200 connections each announce 4 MiB and send nothing
  long announced_after_kb = 0;  // RSS after they closed
  double silent_close_s = 0;    // connect, send nothing: until the daemon closes it
  double half_frame_close_s = 0;
  double idle_close_s = 0;
};

std::string lengthPrefix(uint32_t n) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &n, 4);
  return s;
}

long settledRss(const DaemonProcess& d) {
  std::this_thread::sleep_for(milliseconds(500));  // the allocator returns freed pages lazily
  return d.rssKb();
}

// -1: still open after `wait`.
double secondsUntilClosed(RawConnection& c, steady_clock::time_point since, seconds wait) {
  if (!c.closedByPeer(wait)) return -1;
  return duration<double>(steady_clock::now() - since).count();
}

Figures measure(const char* bin, int connections) {
  if (bin) ::setenv("OUTRIGGER_DAEMON_BIN", bin, 1);
  else ::unsetenv("OUTRIGGER_DAEMON_BIN");
  std::string config = outrigger::testing::basicConfig("mode = \"echo\"");
  // An older build knows none of these keys (and has none of these timeouts).
  if (!bin) config.insert(config.find("drain_grace_ms"), "frame_timeout_ms = 2000\nidle_timeout_ms = 3000\nmax_connections_per_peer = 0\n");
  seconds wait = bin ? seconds(8) : seconds(60);
  DaemonProcess d(config);
  Figures f;
  if (!d.waitReady()) return f;
  f.idle_kb = settledRss(d);
  {
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < connections; ++i) {
      idle.push_back(std::make_unique<RawConnection>(d.socket()));
      idle.back()->send(outrigger::testing::helloFrame());
      idle.back()->readFrame();
    }
    f.kb_per_idle_connection = double(settledRss(d) - f.idle_kb) / connections;
  }
  {
    std::vector<std::unique_ptr<RawConnection>> announcing;
    for (int i = 0; i < 200; ++i) {
      announcing.push_back(std::make_unique<RawConnection>(d.socket()));
      announcing.back()->send(outrigger::testing::helloFrame());
      announcing.back()->readFrame();
      announcing.back()->send(lengthPrefix(4u << 20));
    }
    f.announced_held_kb = settledRss(d);
  }
  f.announced_after_kb = settledRss(d);
  auto t0 = steady_clock::now();
  RawConnection silent(d.socket());
  RawConnection half(d.socket());
  RawConnection idle(d.socket());
  half.send(outrigger::testing::helloFrame());
  idle.send(outrigger::testing::helloFrame());
  half.readFrame();
  idle.readFrame();
  std::string frame = outrigger::testing::requestFrame(1, {});
  half.send(frame.substr(0, frame.size() / 2));
  f.half_frame_close_s = secondsUntilClosed(half, t0, wait);
  f.idle_close_s = secondsUntilClosed(idle, t0, wait);
  f.silent_close_s = secondsUntilClosed(silent, t0, wait);
  return f;
}

void print(const char* name, const Figures& f) {
  std::printf("%-9s %8ld %10.2f %14.1f %14.1f %10.2f %10.2f %10.2f\n", name, f.idle_kb, f.kb_per_idle_connection,
              f.announced_held_kb / 1024.0, f.announced_after_kb / 1024.0, f.silent_close_s, f.half_frame_close_s,
              f.idle_close_s);
}

}  // namespace

int main(int argc, char** argv) {
  int connections = 1000;
  const char* baseline = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--connections") == 0) connections = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--baseline-bin") == 0) baseline = argv[i + 1];
  }
  struct rlimit rl {};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  std::printf("Outrigger resource benchmark: %d idle connections; 200 connections announcing a 4 MiB frame and "
              "sending nothing; one silent, one half-frame and one idle connection (daemon timeouts: handshake "
              "5 s default, frame 2 s, idle 3 s)\n",
              connections);
  std::printf("%-9s %8s %10s %14s %14s %10s %10s %10s\n", "daemon", "idle_KiB", "KiB/conn", "announced_MiB",
              "after_MiB", "silent_s", "half_s", "idle_s");
  if (baseline) print("baseline", measure(baseline, connections));
  Figures now = measure(nullptr, connections);
  print("this", now);
  std::printf("goals: KiB/conn <= 8 (%s), announced_MiB < 64 (%s), after_MiB near idle (%s)\n",
              now.kb_per_idle_connection <= 8 ? "met" : "NOT met", now.announced_held_kb < 64 * 1024 ? "met" : "NOT met",
              now.announced_after_kb < now.idle_kb + 8 * 1024 ? "met" : "NOT met");
  return 0;
}
