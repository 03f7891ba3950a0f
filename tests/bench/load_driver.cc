#include "load_driver.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <outrigger/client.h>

#include "support/child_process.h"
#include "support/daemon_process.h"

using namespace std::chrono;
using outrigger::testing::RawConnection;

namespace outrigger::bench {

long rssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

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

RunQueueWait runQueueWait(pid_t pid, const std::string& prefix) {
  RunQueueWait total;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name.rfind(prefix, 0) != 0) continue;
    std::ifstream stat(task.path() / "schedstat");  // run time (ns), run-queue wait (ns), runs
    uint64_t ran = 0, waited = 0, runs = 0;
    if (stat >> ran >> waited >> runs) {
      total.ran_us += ran / 1e3;
      total.wait_us += waited / 1e3;
      total.runs += runs;
    }
  }
  return total;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    outrigger::testing::endWithParent(parent);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (!std::getenv("OUTRIGGER_BENCH_VERBOSE")) {
      const char* to = log.empty() ? "/dev/null" : log.c_str();
      std::freopen(to, "a", stderr);  // both appended: two offsets into one file would overwrite
      std::freopen(to, "a", stdout);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

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

Result drive(const std::string& socket, pid_t server, int connections, const LoadOptions& opt) {
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
  std::atomic<uint64_t> errors{0}, in_flight{0}, completed{0};

  struct Issuer {
    static void issue(outrigger::client::Client* c, const outrigger::client::ChatRequest* r, std::mutex* mu,
                      std::vector<double>* lat, std::atomic<bool>* measuring, std::atomic<bool>* stopping,
                      std::atomic<uint64_t>* errors, std::atomic<uint64_t>* in_flight,
                      std::atomic<uint64_t>* completed, bool chain) {
      if (stopping->load()) return;
      in_flight->fetch_add(1);
      auto t0 = steady_clock::now();
      outrigger::client::CallEvents ev;
      ev.on_end = [=](const outrigger::client::Result<outrigger::client::Response>& res) {
        double us = duration<double, std::micro>(steady_clock::now() - t0).count();
        if (!res.ok()) errors->fetch_add(1);
        completed->fetch_add(1);
        if (measuring->load()) {
          std::lock_guard<std::mutex> lock(*mu);
          lat->push_back(us);
        }
        in_flight->fetch_sub(1);
        if (chain) issue(c, r, mu, lat, measuring, stopping, errors, in_flight, completed, true);
      };
      c->start(*r, std::move(ev), false);
    }
  };
  // Open loop: each connection's pacer starts a request every connections/rate seconds, whether
  // the earlier ones have answered or not. Closed loop: each answer starts the next request.
  std::vector<std::thread> pacers;
  if (opt.rate > 0) {
    auto interval = duration<double>(static_cast<double>(connections) / opt.rate);
    for (auto& c : clients) {
      pacers.emplace_back([&, client = c.get()] {
        auto next = steady_clock::now();
        while (!stopping.load()) {
          next += duration_cast<steady_clock::duration>(interval);
          std::this_thread::sleep_until(next);
          Issuer::issue(client, &req, &mu, &latencies, &measuring, &stopping, &errors, &in_flight, &completed, false);
        }
      });
    }
  } else {
    for (auto& c : clients) {
      for (int d = 0; d < opt.depth; ++d) {
        Issuer::issue(c.get(), &req, &mu, &latencies, &measuring, &stopping, &errors, &in_flight, &completed, true);
      }
    }
  }
  std::this_thread::sleep_for(milliseconds(500));  // warm-up
  measuring = true;
  double cpu0 = cpuUs(server);
  // The clients' side: the C++ SDK's reader threads, where answers arrive and are timed (the
  // pacers' wake-ups come before a request's clock starts).
  RunQueueWait workers0 = runQueueWait(server, "or-worker"), clients0 = runQueueWait(::getpid(), "or-client-read");
  auto t0 = steady_clock::now();
  std::this_thread::sleep_for(duration<double>(opt.seconds));
  measuring = false;
  double cpu1 = cpuUs(server);
  RunQueueWait workers1 = runQueueWait(server, "or-worker"), clients1 = runQueueWait(::getpid(), "or-client-read");
  double elapsed = duration<double>(steady_clock::now() - t0).count();
  stopping = true;
  for (auto& p : pacers) p.join();
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
  r.completed = completed;
  r.measured = latencies.size();
  r.worker_wait = workers1 - workers0;
  r.client_wait = clients1 - clients0;
  return r;
}

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
  for (const Result& r : rs) m.errors += r.errors, m.completed += r.completed;
  return m;
}

}  // namespace outrigger::bench
