// Closed-loop load for the benchmarks: C++ SDK clients keeping requests in flight against a
// socket, with latency percentiles, throughput and the server's CPU time per request; and the
// process helpers the benchmarks share (spawn, wait until accepting, stop, RSS, CPU time).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace outrigger::bench {

struct LoadOptions {
  double seconds = 2;
  int depth = 1;  // closed loop: requests in flight per connection
  double rate = 0;  // > 0: open loop at this many requests a second in all, spread over the connections
};

// How long a process's threads whose names begin with `prefix` ran, waited for a CPU once
// runnable, and how many times they were put on one, from /proc/<pid>/task/*/schedstat (the
// kernel's sum_exec_runtime, run_delay and pcount); zeros where the kernel keeps no schedstat.
struct RunQueueWait {
  double ran_us = 0, wait_us = 0;
  uint64_t runs = 0;
  RunQueueWait operator-(const RunQueueWait& before) const {
    return {ran_us - before.ran_us, wait_us - before.wait_us, runs - before.runs};
  }
  RunQueueWait& operator+=(const RunQueueWait& more) {
    ran_us += more.ran_us;
    wait_us += more.wait_us;
    runs += more.runs;
    return *this;
  }
};
RunQueueWait runQueueWait(pid_t pid, const std::string& prefix);

struct Result {
  double p50_us = 0, p99_us = 0, rps = 0;
  double cpu_us = 0;  // the server's CPU time (user + system, all threads) per request
  uint64_t errors = 0;
  uint64_t completed = 0;  // every answer, warm-up included
  uint64_t measured = 0;   // the answers the percentiles are of
  // Over the measured window: the server's workers' waits, and those of the clients' SDK reader
  // threads (where answers arrive).
  RunQueueWait worker_wait, client_wait;
};

long rssKb(pid_t pid);
// CPU time a process has used, user and system, in microseconds (clock-tick resolution).
double cpuUs(pid_t pid);
// Starts argv[0] with its output discarded, or written to `log` when one is named (kept on the
// terminal with OUTRIGGER_BENCH_VERBOSE set).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log = "");
// Microseconds from now until the socket accepts a connection; -1 after 10 s.
double waitAccepting(const std::string& path);
void stop(pid_t pid);
// Load from `connections` clients for `seconds` after a 0.5 s warm-up: closed loop (each keeps
// `depth` requests in flight), or open loop at a fixed `rate`.
Result drive(const std::string& socket, pid_t server, int connections, const LoadOptions& opt);
// Figure by figure median over rounds; errors and completions add up.
Result median(std::vector<Result> rs);

}  // namespace outrigger::bench
