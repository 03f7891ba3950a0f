// The daemon's main thread: owns the config, the chain snapshots, the listener, the workers and
// the exporter thread; handles SIGTERM/SIGINT (drain, then stop) and SIGHUP (reload).
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "alerts/alert_evaluator.h"
#include "alerts/webhook_sender.h"
#include "chain/chain.h"
#include "config/config.h"
#include "config/restart_changes.h"
#include "daemon/config_watch.h"
#include "daemon/worker.h"
#include "http/admin_server.h"
#include "http/http_listener.h"
#include "ipc/admission.h"
#include "ipc/frame_reader.h"
#include "ipc/listener.h"
#include "ipc/peer_policy.h"
#include "resilience/target_health.h"
#include "telemetry/exporter_thread.h"
#include "telemetry/tenant_labels.h"

namespace outrigger::daemon {

class Daemon {
 public:
  // `config_path` empty: the embedded default config is used (and reloaded). `overrides` are the
  // command line's, already applied to `settings`; they are applied to each reload too.
  Daemon(config::Settings settings, std::string config_path, config::ServerOverrides overrides = {});
  ~Daemon();

  // Builds the chain, starts workers and listens; then serves until a shutdown signal.
  // Returns the process exit code.
  int run();

 private:
  static void onSignal(uv_signal_t* h, int signum);
  static void onDrainTick(uv_timer_t* t);
  void reload();
  void beginShutdown();
  void finishShutdown();
  uint64_t inFlight() const;
  bool startHttp();
  bool startAdmin();
  void acceptHttp(int fd, bool is_unix);
  void acceptSocket(int fd, const ipc::PeerCredentials& peer);
  size_t httpConnections() const;
  std::string socketMetrics() const;
  std::string usageMetrics() const;
  std::string requestMetrics() const;
  std::string breakerMetrics() const;
  std::string upstreamMetrics() const;
  std::string metricsText() const;
  std::string resilienceMetrics() const;
  std::vector<std::shared_ptr<plugin::PluginInstance>> liveInstances() const;
  // daemon_alerts.cc
  void startAlerts();
  void stopAlerts();
  static void onAlertTick(uv_timer_t* t);
  alerts::AlertInputs alertInputs() const;
  std::string alertsJson() const;
  std::string alertMetrics() const;

  config::Settings settings_;
  std::string config_path_;
  config::ServerOverrides overrides_;  // the command line's, applied to every reloaded config
  uv_loop_t loop_;
  uv_signal_t sigterm_, sigint_, sighup_;
  uv_timer_t drain_timer_;
  std::string socket_path_;  // resolved: the config's, $OUTRIGGER_SOCKET's or the runtime directory's
  std::unique_ptr<ipc::PartialFrameBudget> partial_budget_;
  std::unique_ptr<ipc::PeerPolicy> peer_policy_;
  std::unique_ptr<ipc::ConnectionAdmission> admission_;
  RateLimitedLog refusal_log_;
  std::unique_ptr<ipc::Listener> listener_;
  std::vector<std::unique_ptr<http::HttpListener>> http_listeners_;
  std::unique_ptr<http::AdminServer> admin_;
  std::unique_ptr<http::HttpListener> admin_listener_;
  std::unique_ptr<telemetry::ExporterThread> exporter_;
  // Every worker's targets and tenants: limits, breakers and budgets hold for the process, not
  // per worker. Before workers_ so it outlives them; it outlives reloads too.
  std::unique_ptr<resilience::HealthRegistry> health_ = std::make_unique<resilience::HealthRegistry>();
  // [metrics] tenant_label: shared by every worker's meters; outlives them.
  std::unique_ptr<telemetry::TenantLabels> tenant_labels_;
  // Token and cost label sets: one cap for every worker's meter, so the merged series are stable.
  std::unique_ptr<cost::UsageSeriesCap> usage_series_ =
      std::make_unique<cost::UsageSeriesCap>(cost::UsageMeter::kMaxSeries);
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<alerts::AlertEvaluator> alert_evaluator_;
  std::unique_ptr<alerts::WebhookSender> webhook_;
  uv_timer_t* alert_timer_ = nullptr;  // freed by its close callback
  std::unique_ptr<ConfigWatch> config_watch_;  // [server] watch_config with a config file
  std::shared_ptr<chain::ChainSnapshot> snapshot_;
  uint64_t generation_ = 1;
  uint64_t drain_deadline_ns_ = 0;
  bool shutting_down_ = false;
  bool cancelled_rest_ = false;
  int exit_code_ = 0;
};

}  // namespace outrigger::daemon
