#include "daemon/daemon.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <thread>

#include "common/clock.h"
#include "common/log.h"
#include "http/http_metrics.h"
#include "ipc/runtime_dir.h"
#include "traces/store_location.h"

namespace outrigger::daemon {
namespace {

// Raises the open-files soft limit to the hard limit, and returns how many connections the
// fronts may hold: the limit less a reserve, so admin, health checks, upstream connections,
// plugin files and logs still get descriptors when clients take every connection they can.
uint64_t connectionDescriptorBudget() {
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t wanted = rl.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : rl.rlim_max;
    struct rlimit raised = {wanted, rl.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl.rlim_cur = wanted;
  }
  uint64_t limit = rl.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : rl.rlim_cur;
  uint64_t reserve = std::max<uint64_t>(64, limit / 8);
  uint64_t budget = limit > reserve ? limit - reserve : 1;
  ORLOG(LogLevel::kInfo, "daemon", "file descriptors: limit " + std::to_string(limit) + "; client connections capped at " +
                                       std::to_string(budget) + " to keep " + std::to_string(reserve) +
                                       " for admin, upstreams and files");
  return budget;
}

bool loopbackOrUnix(const std::string& address) {
  return address.rfind("unix:", 0) == 0 || address.rfind("127.", 0) == 0 || address.rfind("[::1]", 0) == 0;
}

}  // namespace

Daemon::Daemon(config::Settings settings, std::string config_path, config::ServerOverrides overrides)
    : settings_(std::move(settings)), config_path_(std::move(config_path)), overrides_(std::move(overrides)) {
  uv_loop_init(&loop_);
}

Daemon::~Daemon() {
  uv_walk(&loop_, [](uv_handle_t* h, void*) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }, nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

uint64_t Daemon::inFlight() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->inFlight();
  return n;
}

int Daemon::run() {
  setLogLevel(settings_.server.log_level);
  // A peer that closed its socket must surface as a write error (EPIPE), not kill the process.
  ::signal(SIGPIPE, SIG_IGN);
  uint32_t n = settings_.server.workers ? settings_.server.workers : std::max(1u, std::thread::hardware_concurrency());
  auto snapshot = chain::buildChain(settings_, n, generation_);
  if (!snapshot.ok()) {
    ORLOG(LogLevel::kError, "daemon", snapshot.status().message());
    return 1;
  }
  // Moved, not copied: a copy left in this frame would keep the first config's instances alive
  // for as long as the daemon runs, through every reload (an exporter's spool lock among them).
  snapshot_ = std::move(snapshot.value());
  auto socket_path = ipc::resolveServerSocketPath(settings_.server.socket_path);
  if (!socket_path.ok()) {
    ORLOG(LogLevel::kError, "daemon", socket_path.status().message());
    return 1;
  }
  socket_path_ = socket_path.value();
  partial_budget_ = std::make_unique<ipc::PartialFrameBudget>(settings_.server.partial_frame_memory);
  peer_policy_ = std::make_unique<ipc::PeerPolicy>(settings_.server.peers, ::geteuid());
  admission_ = std::make_unique<ipc::ConnectionAdmission>(settings_.server.max_connections,
                                                          settings_.server.max_connections_per_peer,
                                                          connectionDescriptorBudget());
  SocketGuards guards{partial_budget_.get(), peer_policy_.get(), admission_.get()};
  if (settings_.metrics.tenant_label) tenant_labels_ = std::make_unique<telemetry::TenantLabels>(settings_.metrics.max_tenants);
  exporter_ = std::make_unique<telemetry::ExporterThread>(settings_.exporter_queue_capacity,
                                                          upstreamSettings(settings_.server),
                                                          settings_.exporter_queue_max_bytes);
  exporter_->adopt(snapshot_->exporters);
  exporter_->start(settings_.exporter_priority == "normal" ? telemetry::ExporterPriority::kNormal
                   : settings_.exporter_priority == "low"  ? telemetry::ExporterPriority::kLow
                                                           : telemetry::ExporterPriority::kIdle);
  for (uint32_t i = 0; i < n; ++i) {
    workers_.push_back(
        std::make_unique<Worker>(i, settings_.server, exporter_.get(), &settings_.http, guards, health_.get(),
                                 tenant_labels_.get(), usage_series_.get()));
    workers_.back()->publish(snapshot_->workers[i]);
    workers_.back()->start();
  }
  listener_ = std::make_unique<ipc::Listener>(
      &loop_, [this](int fd, const ipc::PeerCredentials& peer) { acceptSocket(fd, peer); });
  if (Status s = listener_->listen(socket_path_, settings_.server.socket_mode); !s.isOk()) {
    ORLOG(LogLevel::kError, "daemon", s.message());
    listener_.reset();
    for (auto& w : workers_) w->stop();
    exporter_->stop();
    return 1;
  }
  if (!startHttp() || !startAdmin()) {
    listener_->close();
    for (auto& l : http_listeners_) l->close();
    for (auto& w : workers_) w->stop();
    exporter_->stop();
    return 1;
  }
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_}) s->data = this;
  uv_signal_start(&sigterm_, &Daemon::onSignal, SIGTERM);
  uv_signal_start(&sigint_, &Daemon::onSignal, SIGINT);
  uv_signal_start(&sighup_, &Daemon::onSignal, SIGHUP);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  startAlerts();
  if (settings_.server.watch_config && !config_path_.empty()) {
    config_watch_ = std::make_unique<ConfigWatch>(&loop_, config_path_, [this] { reload(); });
    config_watch_->start(settings_.text_hash);
  }
  // serve() blocked SIGHUP until the loop handles it (its default action kills the process, and
  // a handler would interrupt a plugin's create): one sent meanwhile is delivered now, and reloads.
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  sigset_t pending;
  if (::sigpending(&pending) == 0 && sigismember(&pending, SIGHUP)) {
    ORLOG(LogLevel::kInfo, "reload", "a SIGHUP arrived while starting; reloading once serving");
  }
  ::pthread_sigmask(SIG_UNBLOCK, &hup, nullptr);
  ORLOG(LogLevel::kInfo, "daemon", "serving on " + socket_path_ + " with " + std::to_string(n) +
                                       " workers (config " + settings_.source + ")");
  uv_run(&loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

bool Daemon::startHttp() {
  for (const std::string& address : settings_.http.listen) {
    auto l = std::make_unique<http::HttpListener>(&loop_, [this](int fd, bool is_unix) { acceptHttp(fd, is_unix); });
    if (Status s = l->listen(address, settings_.http.socket_mode); !s.isOk()) {
      ORLOG(LogLevel::kError, "http", s.message());
      l->close();
      http_listeners_.push_back(std::move(l));  // freed with the daemon, after the loop closed it
      return false;
    }
    ORLOG(LogLevel::kInfo, "http", "OpenAI-compatible API listening on " + l->boundAddress());
    http_listeners_.push_back(std::move(l));
  }
  return true;
}

void Daemon::acceptSocket(int fd, const ipc::PeerCredentials& peer) {
  using Verdict = ipc::ConnectionAdmission::Verdict;
  Verdict verdict = admission_->admit(peer.uid, httpConnections());
  if (verdict != Verdict::kAdmitted) {
    ::close(fd);
    std::string why = verdict == Verdict::kPeerFull ? "max_connections_per_peer (" +
                                                          std::to_string(settings_.server.max_connections_per_peer) + ") reached"
                      : verdict == Verdict::kProcessFull
                          ? "max_connections (" + std::to_string(settings_.server.max_connections) + ") reached"
                          : "the descriptors left for client connections (" + std::to_string(admission_->descriptors()) + ") are taken";
    refusal_log_.write(LogLevel::kWarn, "listener", "refused a connection from " + peer.describe() + ": " + why);
    return;
  }
  // The worker with the fewest connections takes it.
  Worker* best = workers_[0].get();
  for (const auto& w : workers_) {
    if (w->connections() < best->connections()) best = w.get();
  }
  best->adopt(fd, peer);
}

size_t Daemon::httpConnections() const {
  size_t total = 0;
  for (const auto& w : workers_) total += w->httpConnections();
  return total;
}

void Daemon::acceptHttp(int fd, bool is_unix) {
  size_t total = 0;
  Worker* best = workers_[0].get();
  for (const auto& w : workers_) {
    total += w->httpConnections();
    if (w->httpConnections() < best->httpConnections()) best = w.get();
  }
  if (total >= settings_.http.max_connections || !admission_->descriptorsLeft(total)) {
    workers_[0]->httpMetrics().rejectedConnection();
    ::close(fd);
    return;
  }
  best->adoptHttp(fd, is_unix);
}

bool Daemon::startAdmin() {
  if (settings_.admin.listen.empty()) return true;
  http::AdminSources sources;
  sources.ready = [this] { return !shutting_down_ && snapshot_ != nullptr; };
  sources.metrics = [this] { return metricsText(); };
  sources.version = OUTRIGGER_VERSION;
  sources.trace_store = [this] { return traces::storePathOf(settings_); };
  sources.alerts = [this] { return alertsJson(); };
  sources.token = settings_.admin.token;
  sources.allowed_hosts = settings_.admin.allowed_hosts;
  if (settings_.admin.token.empty() && !loopbackOrUnix(settings_.admin.listen)) {
    ORLOG(LogLevel::kWarn, "admin", "[admin] listen = " + settings_.admin.listen +
                                        " is reachable beyond this host and has no token; set [admin] token");
  }
  admin_ = std::make_unique<http::AdminServer>(&loop_, std::move(sources));
  admin_listener_ = std::make_unique<http::HttpListener>(&loop_, [this](int fd, bool is_unix) { admin_->accept(fd, is_unix); });
  if (Status s = admin_listener_->listen(settings_.admin.listen, 0600); !s.isOk()) {
    ORLOG(LogLevel::kError, "admin", s.message());
    admin_listener_->close();
    return false;
  }
  ORLOG(LogLevel::kInfo, "admin", "admin endpoints listening on " + admin_listener_->boundAddress());
  return true;
}

void Daemon::onSignal(uv_signal_t* h, int signum) {
  auto* self = static_cast<Daemon*>(h->data);
  if (signum == SIGHUP) self->reload();
  else self->beginShutdown();
}

void Daemon::reload() {
  if (shutting_down_) return;
  if (config_watch_) config_watch_->noteApplied();  // before reading: a change after it reloads again
  auto settings = config_path_.empty() ? config::loadDefaultConfig() : config::loadConfigFile(config_path_);
  if (!settings.ok()) {
    ORLOG(LogLevel::kError, "reload", "rejected, keeping the running config: " + settings.status().message());
    return;
  }
  auto snapshot = chain::buildChain(settings.value(), workers_.size(), generation_ + 1);
  if (!snapshot.ok()) {
    ORLOG(LogLevel::kError, "reload", "rejected, keeping the running config: " + snapshot.status().message());
    return;
  }
  overrides_.applyTo(&settings->server);
  std::vector<std::string> restart_only = config::restartOnlyChanges(settings_, settings.value());
  if (!restart_only.empty()) {
    std::string sections;
    for (const std::string& s : restart_only) sections += (sections.empty() ? "" : ", ") + s;
    ORLOG(LogLevel::kWarn, "reload", sections + " changes need a restart; keeping the old values");
  }
  ++generation_;
  auto old = snapshot_;
  snapshot_ = snapshot.value();
  exporter_->adopt(snapshot_->exporters);
  for (size_t i = 0; i < workers_.size(); ++i) workers_[i]->publish(snapshot_->workers[i]);
  exporter_->flush(old->exporters);
  settings_.routes = settings->routes;
  settings_.instances = settings->instances;
  ORLOG(LogLevel::kInfo, "reload", "config generation " + std::to_string(generation_) + " is live");
}

void Daemon::beginShutdown() {
  if (shutting_down_) {
    // A second signal: stop waiting for the drain.
    drain_deadline_ns_ = 0;
    return;
  }
  shutting_down_ = true;
  ORLOG(LogLevel::kInfo, "daemon", "shutting down: draining for up to " +
                                       std::to_string(settings_.server.drain_grace_ms) + " ms");
  listener_->close();
  for (auto& l : http_listeners_) l->close();
  for (auto& w : workers_) w->goAway(settings_.server.drain_grace_ms);
  drain_deadline_ns_ = monoNowNs() + uint64_t{settings_.server.drain_grace_ms} * 1000000;
  uv_timer_start(&drain_timer_, &Daemon::onDrainTick, 10, 10);
}

void Daemon::onDrainTick(uv_timer_t* t) {
  auto* self = static_cast<Daemon*>(t->data);
  if (self->inFlight() == 0) return self->finishShutdown();
  if (monoNowNs() >= self->drain_deadline_ns_ && !self->cancelled_rest_) {
    self->cancelled_rest_ = true;
    ORLOG(LogLevel::kWarn, "daemon", "grace period over; ending " + std::to_string(self->inFlight()) +
                                         " in-flight requests with UNAVAILABLE");
    for (auto& w : self->workers_) w->endAll(Code::kUnavailable, "server shut down before the request finished");
  }
}

void Daemon::finishShutdown() {
  uv_timer_stop(&drain_timer_);
  stopAlerts();
  if (config_watch_) config_watch_->stop();
  for (auto& w : workers_) w->stop();
  workers_.clear();
  exporter_->flush(snapshot_->exporters);
  exporter_->stop();
  uv_signal_stop(&sigterm_);
  uv_signal_stop(&sigint_);
  uv_signal_stop(&sighup_);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  if (admin_listener_) {
    admin_listener_->close();
    uv_stop(&loop_);  // h2o's context keeps handles open on this loop; the destructor closes them
  }
  for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_}) uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  ORLOG(LogLevel::kInfo, "daemon", "stopped");
}

}  // namespace outrigger::daemon
