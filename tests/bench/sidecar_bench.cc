// Sidecar benchmark: the same C++ SDK load generator against (a) the bare echo baseline and
// (b) the daemon on its default chain (rules guardrail + echo mock), in one run. Prints
// p50/p99 latency and throughput at 1 and 16 connections with the sidecar/baseline ratios, RSS
// idle and after the run, and the time from process start to accepting connections. With
// --previous-bin, an older build's daemon runs in the same rounds and the new/old ratios print.
//   sidecar_bench [--seconds N] [--depth N] [--workers N] [--rounds N] [--previous-bin PATH]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "support/daemon_process.h"

using namespace std::chrono;
using outrigger::testing::RawConnection;

namespace {

struct Options {
  double seconds = 2;
  int rounds = 5;  // baseline and sidecar alternate; each figure is the median over rounds
  int depth = 1;  // requests in flight per connection
  int workers = 2;
  std::string previous_bin;  // an older outrigger binary to compare with, in the same rounds
  std::vector<int> connections = {1, 16};  // --connections N: that count only (e.g. while profiling)
};

struct Result {
  double p50_us = 0, p99_us = 0, rps = 0;
  double cpu_us = 0;  // the server's CPU time (user + system, all threads) per request
  uint64_t errors = 0;
};

long rssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// CPU time a process has used, user and system, in microseconds (clock-tick resolution).
double cpuUs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));  // the command name may hold spaces
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // fields 3..13, then utime (14) and stime (15)
  double utime = 0, stime = 0;
  fields >> utime >> stime;
  return (utime + stime) * 1e6 / double(::sysconf(_SC_CLK_TCK));
}

pid_t spawn(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (!std::getenv("OUTRIGGER_BENCH_VERBOSE")) {
      std::freopen("/dev/null", "w", stderr);
      std::freopen("/dev/null", "w", stdout);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// Microseconds from now until the socket accepts a connection.
double waitAccepting(const std::string& path) {
  auto t0 = steady_clock::now();
  for (;;) {
    RawConnection c(path);
    if (c.connected()) break;
    if (steady_clock::now() - t0 > seconds(10)) return -1;
    std::this_thread::sleep_for(microseconds(200));
  }
  return duration<double, std::micro>(steady_clock::now() - t0).count();
}

void stop(pid_t pid) {
  ::kill(pid, SIGTERM);
  int status;
  ::waitpid(pid, &status, 0);
}

// Closed-loop load: each connection keeps `depth` requests in flight for `seconds`.
Result drive(const std::string& socket, pid_t server, int connections, const Options& opt) {
  std::vector<std::unique_ptr<outrigger::client::Client>> clients;
  for (int i = 0; i < connections; ++i) {
    outrigger::client::Client::Options o;
    o.socket_path = socket;
    clients.push_back(std::make_unique<outrigger::client::Client>(o));
    if (auto e = clients.back()->connect()) {
      std::fprintf(stderr, "connect failed: %s\n", e->toString().c_str());
      std::exit(1);
    }
  }
  outrigger::client::ChatRequest req;
  req.model = "default";
  req.messages.push_back({"system", "You are a helpful assistant that answers briefly.", "", "", {}});
  req.messages.push_back({"user", "What is the capital of France? Answer in one word, please.", "", "", {}});

  std::mutex mu;
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  std::atomic<bool> measuring{false}, stopping{false};
  std::atomic<uint64_t> errors{0}, in_flight{0};

  struct Issuer {
    static void issue(outrigger::client::Client* c, const outrigger::client::ChatRequest* r, std::mutex* mu,
                      std::vector<double>* lat, std::atomic<bool>* measuring, std::atomic<bool>* stopping,
                      std::atomic<uint64_t>* errors, std::atomic<uint64_t>* in_flight) {
      if (stopping->load()) return;
      in_flight->fetch_add(1);
      auto t0 = steady_clock::now();
      outrigger::client::CallEvents ev;
      ev.on_end = [=](const outrigger::client::Result<outrigger::client::Response>& res) {
        double us = duration<double, std::micro>(steady_clock::now() - t0).count();
        if (!res.ok()) errors->fetch_add(1);
        if (measuring->load()) {
          std::lock_guard<std::mutex> lock(*mu);
          lat->push_back(us);
        }
        in_flight->fetch_sub(1);
        issue(c, r, mu, lat, measuring, stopping, errors, in_flight);
      };
      c->start(*r, std::move(ev), false);
    }
  };
  for (auto& c : clients) {
    for (int d = 0; d < opt.depth; ++d) {
      Issuer::issue(c.get(), &req, &mu, &latencies, &measuring, &stopping, &errors, &in_flight);
    }
  }
  std::this_thread::sleep_for(milliseconds(500));  // warm-up
  measuring = true;
  double cpu0 = cpuUs(server);
  auto t0 = steady_clock::now();
  std::this_thread::sleep_for(duration<double>(opt.seconds));
  measuring = false;
  double cpu1 = cpuUs(server);
  double elapsed = duration<double>(steady_clock::now() - t0).count();
  stopping = true;
  while (in_flight.load() > 0) std::this_thread::sleep_for(milliseconds(1));
  std::lock_guard<std::mutex> lock(mu);
  std::sort(latencies.begin(), latencies.end());
  Result r;
  if (!latencies.empty()) {
    r.p50_us = latencies[latencies.size() / 2];
    r.p99_us = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  }
  r.rps = latencies.size() / elapsed;
  r.cpu_us = latencies.empty() ? 0 : (cpu1 - cpu0) / double(latencies.size());
  r.errors = errors;
  return r;
}

// Figure by figure median over rounds; errors add up.
Result median(std::vector<Result> rs) {
  auto mid = [&](auto field) {
    std::vector<double> v;
    for (const Result& r : rs) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  Result m;
  m.p50_us = mid(&Result::p50_us);
  m.p99_us = mid(&Result::p99_us);
  m.rps = mid(&Result::rps);
  m.cpu_us = mid(&Result::cpu_us);
  for (const Result& r : rs) m.errors += r.errors;
  return m;
}

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
  std::system(("rm -rf " + dir).c_str());
  return ok ? 0 : 1;
}
