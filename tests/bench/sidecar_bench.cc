// Sidecar benchmark: the same C++ SDK load generator against (a) the bare echo baseline and
// (b) the daemon on its default chain (rules guardrail + echo mock), in one run. Prints
// p50/p99 latency and throughput at 1 and 16 connections with the sidecar/baseline ratios, RSS
// idle and after the run, and the time from process start to accepting connections. With
// --previous-bin, an older build's daemon runs in the same rounds and the new/old ratios print.
//   sidecar_bench [--seconds N] [--depth N] [--workers N] [--rounds N] [--previous-bin PATH]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "load_driver.h"
#include "support/daemon_process.h"

using namespace std::chrono;
using namespace outrigger::bench;

namespace {

struct Options : LoadOptions {
  int rounds = 5;  // baseline and sidecar alternate; each figure is the median over rounds
  int workers = 2;
  std::string previous_bin;  // an older outrigger binary to compare with, in the same rounds
  std::vector<int> connections = {1, 16};  // --connections N: that count only (e.g. while profiling)
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") opt.seconds = std::atof(argv[i + 1]);
    else if (a == "--depth") opt.depth = std::atoi(argv[i + 1]);
    else if (a == "--workers") opt.workers = std::atoi(argv[i + 1]);
    else if (a == "--rounds") opt.rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--previous-bin") opt.previous_bin = argv[i + 1];
    else if (a == "--connections") opt.connections = {std::max(1, std::atoi(argv[i + 1]))};
  }
  std::string dir = outrigger::testing::makeTempDir();
  std::string echo_sock = dir + "/echo.sock", sidecar_sock = dir + "/sidecar.sock";
  // The default chain keeps a trace store at the default location: here, not in $HOME.
  ::setenv("XDG_STATE_HOME", dir.c_str(), 1);

  pid_t echo = spawn({OUTRIGGER_ECHO_SERVER, echo_sock, std::to_string(opt.workers)});
  waitAccepting(echo_sock);

  // Start-up time: several cold starts of the daemon, to accepting connections.
  std::vector<double> starts;
  pid_t sidecar = -1;
  for (int i = 0; i < 5; ++i) {
    if (sidecar > 0) stop(sidecar);
    auto t0 = steady_clock::now();
    sidecar = spawn({OUTRIGGER_BIN, "serve", "--socket", sidecar_sock, "--workers", std::to_string(opt.workers)});
    waitAccepting(sidecar_sock);
    starts.push_back(duration<double, std::milli>(steady_clock::now() - t0).count());
  }
  std::sort(starts.begin(), starts.end());
  std::string previous_sock = dir + "/previous.sock";
  pid_t previous = -1;
  if (!opt.previous_bin.empty()) {
    previous = spawn({opt.previous_bin, "serve", "--socket", previous_sock, "--workers", std::to_string(opt.workers)});
    waitAccepting(previous_sock);
  }
  std::this_thread::sleep_for(milliseconds(200));
  long rss_idle = rssKb(sidecar);

  std::printf("Outrigger sidecar benchmark: %d worker(s) each side, %d request(s) in flight per connection, "
              "median of %d alternating rounds of %.1f s\n", opt.workers, opt.depth, opt.rounds, opt.seconds);
  std::printf("%-12s %-9s %10s %10s %12s %8s %10s\n", "connections", "target", "p50_us", "p99_us", "req_per_s", "errors",
              "cpu_us/req");
  bool ok = true;
  for (int conns : opt.connections) {
    // Alternating short rounds spread the machine's drift over both targets alike.
    std::vector<Result> bases, sides, olds;
    for (int r = 0; r < opt.rounds; ++r) {
      bases.push_back(drive(echo_sock, echo, conns, opt));
      sides.push_back(drive(sidecar_sock, sidecar, conns, opt));
      if (previous > 0) olds.push_back(drive(previous_sock, previous, conns, opt));
    }
    Result base = median(bases), side = median(sides);
    std::printf("%-12d %-9s %10.1f %10.1f %12.0f %8llu %10.2f\n", conns, "baseline", base.p50_us, base.p99_us, base.rps,
                static_cast<unsigned long long>(base.errors), base.cpu_us);
    std::printf("%-12d %-9s %10.1f %10.1f %12.0f %8llu %10.2f\n", conns, "sidecar", side.p50_us, side.p99_us, side.rps,
                static_cast<unsigned long long>(side.errors), side.cpu_us);
    double p50_ratio = side.p50_us / base.p50_us, tput_ratio = side.rps / base.rps;
    std::printf("%-12d %-9s %9.2fx %9.2fx %11.2fx %8s %9.2fx   (targets: p50 <= 1.30x, throughput >= 0.50x)\n", conns,
                "ratio", p50_ratio, side.p99_us / base.p99_us, tput_ratio, "", side.cpu_us / base.cpu_us);
    ok = ok && side.errors == 0 && base.errors == 0;
    if (previous > 0) {
      Result old = median(olds);
      std::printf("%-12d %-9s %10.1f %10.1f %12.0f %8llu %10.2f\n", conns, "previous", old.p50_us, old.p99_us, old.rps,
                  static_cast<unsigned long long>(old.errors), old.cpu_us);
      std::printf("%-12d %-9s %9.2fx %9.2fx %11.2fx %8s %9.2fx   (new / previous build: p50 <= 1.05x, throughput >= 0.95x)\n",
                  conns, "vs prev", side.p50_us / old.p50_us, side.p99_us / old.p99_us, side.rps / old.rps, "",
                  side.cpu_us / old.cpu_us);
      std::printf("%-12d %-9s %9.2fx %9.2fx %11.2fx   (previous build / baseline)\n", conns, "prev rat",
                  old.p50_us / base.p50_us, old.p99_us / base.p99_us, old.rps / base.rps);
    }
  }
  if (previous > 0) stop(previous);
  long rss_after = rssKb(sidecar);
  std::printf("sidecar RSS: idle %ld KiB, after the run %ld KiB\n", rss_idle, rss_after);
  std::printf("start to accepting connections: median %.1f ms, min %.1f ms (5 cold starts)\n", starts[starts.size() / 2],
              starts[0]);
  stop(sidecar);
  stop(echo);
  outrigger::testing::removeTempDir(dir);
  return ok ? 0 : 1;
}
