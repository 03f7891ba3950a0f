// A real OpenTelemetry collector for the exporter's tests: Jaeger v2 (built on the Collector),
// run as a child process on free loopback ports with an OTLP/HTTP receiver, in-memory trace
// storage behind its query API, a metrics pipeline into a Prometheus exporter (Jaeger keeps no
// metrics of its own, so the test reads the collector's Prometheus rendering of what it got), and
// a logs pipeline into the collector's debug exporter, which prints each log record it decoded
// to the process's output (Jaeger stores no logs; log() holds that output).
//
// The binary is built by `deploy/setup.sh --test` from tests/tools/jaeger (pinned in go.mod) to
// build/tools/jaeger; OUTRIGGER_JAEGER_BIN names another one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "otlp/otlp_spans.h"

namespace outrigger::testing {

class JaegerProcess {
 public:
  // The binary to run; empty when there is none.
  static std::string binary();

  // Picks the ports and writes the config into `dir`; start() runs it.
  explicit JaegerProcess(const std::string& dir);
  ~JaegerProcess();

  // Starts (or restarts, on the same ports) and waits until it takes OTLP and answers queries.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // SIGKILL, then waits for the exit: everything in memory is gone, as with a crash.
  void kill();
  // Whether the next start() runs the collector at SCHED_IDLE (every thread of it): it gets only
  // the CPU nothing else wants, and a waking daemon thread preempts it at once. A benchmark sets
  // it: the collector stands in for one on another host, and at an equal share it would compete
  // with the daemon it measures for this machine's cores.
  void setIdleOnly(bool idle) { idle_only_ = idle; }
  pid_t pid() const { return pid_; }  // the running collector's, else -1

  std::string endpoint() const;  // the OTLP/HTTP base URL
  int otlpPort() const { return otlp_port_; }
  // The spans Jaeger holds for a trace (GET /api/v3/traces/{id}); empty when it has none.
  std::vector<OtlpSpan> trace(const std::string& trace_id) const;
  // Polls trace() until it has at least `spans` spans or the timeout passes.
  std::vector<OtlpSpan> waitForTrace(const std::string& trace_id, size_t spans,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // The Prometheus text of the metrics the collector received.
  std::string metricsText() const;
  // The sum of the samples of metric `name` whose labels include every one of `labels`
  // (e.g. `outcome="dropped"`); -1 when there is none.
  double metric(const std::string& name, const std::vector<std::string>& labels = {}) const;
  // The collector's output: its warnings, and the debug exporter's rendering of the logs it got.
  std::string log() const;

 private:
  std::string dir_, config_path_, log_path_;
  int otlp_port_ = 0, query_port_ = 0, grpc_port_ = 0, metrics_port_ = 0;
  pid_t pid_ = -1;
  bool idle_only_ = false;
};

// A random 32-hex trace id and 16-hex span id, and the traceparent that names them.
std::string randomHex(size_t digits);
inline std::string traceparent(const std::string& trace_id, const std::string& span_id) {
  return "00-" + trace_id + "-" + span_id + "-01";
}

}  // namespace outrigger::testing
