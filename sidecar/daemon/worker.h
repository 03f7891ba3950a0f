// A worker thread: one event loop, one chain engine, and the connections handed to it. Every
// call marked [any] posts to the worker's loop; nothing else touches its state.
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <unordered_set>
#include <vector>

#include "chain/engine.h"
#include "config/config.h"
#include "event/event_loop.h"
#include "http/http_front.h"
#include "http/http_metrics.h"
#include "http_client/http_client.h"
#include "ipc/connection.h"
#include "ipc/frame_writer.h"

namespace outrigger::daemon {

// What every worker's socket connections share with the rest of the process; owned by the
// daemon, which outlives its workers. Any member may be null.
struct SocketGuards {
  ipc::PartialFrameBudget* partial_budget = nullptr;
  const ipc::PeerPolicy* peers = nullptr;
  ipc::ConnectionAdmission* admission = nullptr;
};

// The outbound HTTP client settings [server] gives every client of the process: each worker's
// and the exporter thread's.
http_client::HttpClientSettings upstreamSettings(const config::ServerSettings& server);

class Worker : public ipc::ConnectionOwner {
 public:
  // `http`: serve the HTTP front too (its `listen` is not empty). `health`: the process's
  // targets and tenants, shared by every worker (owned by the daemon); nullptr: the worker's own.
  Worker(uint32_t index, const config::ServerSettings& server, telemetry::ExporterThread* exporter,
         const config::HttpSettings* http = nullptr, const SocketGuards& guards = {},
         resilience::HealthRegistry* health = nullptr, telemetry::TenantLabels* tenant_labels = nullptr,
         cost::UsageSeriesCap* usage_series = nullptr);
  ~Worker() override;

  void start();                                               // starts the thread
  void adopt(int fd, const ipc::PeerCredentials& peer = {});  // [any] serves a connected socket
  void adoptHttp(int fd, bool is_unix);                       // [any] serves an HTTP connection
  void publish(std::shared_ptr<const chain::WorkerChain> c);  // [any] new requests use this chain
  void goAway(uint32_t drain_ms);                             // [any] GoAway on every connection
  void endAll(Code code, std::string message);                // [any] ends every stream
  void stop();                                                // [any] closes everything; joins

  size_t connections() const { return connections_.load(std::memory_order_relaxed); }
  size_t httpConnections() const { return http_ ? http_->connections() : 0; }
  http::HttpMetrics& httpMetrics() { return http_metrics_; }
  // Requests started and not yet ended.
  uint64_t inFlight() const;
  chain::EngineCounters& engineCounters() { return engine_.counters(); }
  cost::UsageMeter& usageMeter() { return engine_.usageMeter(); }
  telemetry::RequestMeter& requestMeter() { return engine_.requestMeter(); }
  http_client::HttpClientCounters& httpClientCounters() { return http_client_->counters(); }
  ipc::ConnectionCounters& counters() override { return conn_counters_; }

  // ConnectionOwner
  void scheduleFlush(ipc::Connection* c) override;
  void connectionClosed(ipc::Connection* c) override;

 private:
  static void onCheck(uv_check_t* h);
  static void onSweep(uv_timer_t* t);

  event::EventLoop loop_;
  // Before engine_: requests (and their transfers) go first, the client after them.
  std::unique_ptr<http_client::HttpClient> http_client_;
  chain::Engine engine_;
  ipc::FrameWriter writer_;
  ipc::ConnectionSettings conn_settings_;
  http::HttpMetrics http_metrics_;
  std::unique_ptr<http::HttpFront> http_;
  uv_check_t check_;
  static constexpr uint64_t kStopGraceMs = 1000;  // for last frames to reach slow clients on stop
  uv_timer_t stop_timer_;
  uv_idle_t flush_idle_;  // active while a flush is pending (see scheduleFlush)
  uv_timer_t sweep_;      // closes connections whose handshake, frame or idle time ran out
  std::unordered_set<ipc::Connection*> conns_;
  std::vector<ipc::Connection*> dirty_;
  ipc::ConnectionCounters conn_counters_;
  std::atomic<size_t> connections_{0};
  bool draining_ = false;
  bool stopping_ = false;  // loop thread
  bool stopped_ = false;   // caller thread
};

}  // namespace outrigger::daemon
