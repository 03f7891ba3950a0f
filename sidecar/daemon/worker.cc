#include "daemon/worker.h"

#include <unistd.h>

#include <algorithm>

#include "common/log.h"

namespace outrigger::daemon {

http_client::HttpClientSettings upstreamSettings(const config::ServerSettings& server) {
  http_client::HttpClientSettings s;
  s.ca_file = server.upstream_ca_file;
  s.plain_http1 = server.upstream_plain_http1;
  s.max_host_connections = server.upstream_max_connections;
  return s;
}

Worker::Worker(uint32_t index, const config::ServerSettings& server, telemetry::ExporterThread* exporter,
               const config::HttpSettings* http, const SocketGuards& guards, resilience::HealthRegistry* health,
               telemetry::TenantLabels* tenant_labels, cost::UsageSeriesCap* usage_series)
    : loop_(index),
      http_client_(std::make_unique<http_client::HttpClient>(loop_.loop(), upstreamSettings(server))),
      engine_(loop_, {server.default_timeout_ms, server.max_timeout_ms, server.slow_hook_warn_us, tenant_labels, usage_series}, exporter,
              health) {
  conn_settings_.max_frame_size = server.max_frame_size;
  conn_settings_.max_concurrent_streams = server.max_concurrent_streams;
  conn_settings_.write_queue_high_water = server.write_queue_high_water;
  conn_settings_.write_queue_limit = server.write_queue_limit;
  conn_settings_.server_version = OUTRIGGER_VERSION;
  conn_settings_.handshake_timeout_ms = server.handshake_timeout_ms;
  conn_settings_.idle_timeout_ms = server.idle_timeout_ms;
  conn_settings_.frame_timeout_ms = server.frame_timeout_ms;
  conn_settings_.heartbeat_ms = server.heartbeat_ms;
  conn_settings_.partial_budget = guards.partial_budget;
  conn_settings_.peers = guards.peers;
  conn_settings_.admission = guards.admission;
  engine_.setHttpClient(http_client_.get());
  loop_.setSpin(uint64_t(server.busy_poll_us) * 1000);
  uv_check_init(loop_.loop(), &check_);
  check_.data = this;
  uv_idle_init(loop_.loop(), &flush_idle_);
  // A sweep a few times per shortest timeout: a per-connection timer would cost every idle
  // connection a handle and every frame a re-arm.
  uint32_t shortest = std::min(server.handshake_timeout_ms, server.frame_timeout_ms);
  if (server.idle_timeout_ms) shortest = std::min(shortest, server.idle_timeout_ms);
  uint64_t every = std::clamp<uint64_t>(shortest / 4, 10, 1000);
  uv_timer_init(loop_.loop(), &sweep_);
  sweep_.data = this;
  uv_timer_start(&sweep_, &Worker::onSweep, every, every);
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_));
  if (http && !http->listen.empty()) {
    http_ = std::make_unique<http::HttpFront>(loop_.loop(), engine_, *http, http_metrics_);
  }
}

Worker::~Worker() { stop(); }

void Worker::start() { loop_.startThread(); }

uint64_t Worker::inFlight() const {
  auto& c = const_cast<Worker*>(this)->engine_.counters();
  return c.started.load() - c.finished.load() - c.failed.load();
}

void Worker::adopt(int fd, const ipc::PeerCredentials& peer) {
  connections_.fetch_add(1, std::memory_order_relaxed);
  auto refuse = [this, fd, peer] {
    ::close(fd);
    connections_.fetch_sub(1, std::memory_order_relaxed);
    if (conn_settings_.admission) conn_settings_.admission->release(peer.uid);
  };
  bool posted = loop_.post([this, fd, peer, refuse] {
    if (draining_) return refuse();
    auto* c = new ipc::Connection(*this, loop_.loop(), engine_, writer_, conn_settings_);
    conns_.insert(c);
    c->open(fd, peer);
  });
  if (!posted) refuse();
}

void Worker::onSweep(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  uint64_t now = uv_now(t->loop);
  std::vector<ipc::Connection*> all(self->conns_.begin(), self->conns_.end());
  for (ipc::Connection* c : all) {
    if (self->conns_.count(c)) c->checkTimeouts(now);
  }
}

void Worker::adoptHttp(int fd, bool is_unix) {
  if (!http_) {
    ::close(fd);
    return;
  }
  http_->reserveConnection();
  bool posted = loop_.post([this, fd, is_unix] {
    if (draining_) {
      ::close(fd);
      http_->releaseReserved();
      return;
    }
    http_->accept(fd, is_unix);
  });
  if (!posted) {
    ::close(fd);
    http_->releaseReserved();
  }
}

// These four come from the main thread, rarely, and must not be lost to a full queue: a refused
// publish left the worker on the old chain, a refused stop hung the daemon's exit.
void Worker::publish(std::shared_ptr<const chain::WorkerChain> c) {
  loop_.postSurely([this, c] { engine_.setChain(c); });
}

void Worker::goAway(uint32_t drain_ms) {
  loop_.postSurely([this, drain_ms] {
    draining_ = true;
    for (ipc::Connection* c : conns_) c->goAway(drain_ms);
    if (http_) http_->drain();
  });
}

void Worker::endAll(Code code, std::string message) {
  loop_.postSurely([this, code, message] {
    std::vector<ipc::Connection*> all(conns_.begin(), conns_.end());
    for (ipc::Connection* c : all) c->endAllStreams(code, message);
    if (http_) http_->endAll(code, message);
  });
}

void Worker::stop() {
  if (stopped_) return;
  stopped_ = true;
  loop_.postSurely([this] {
    stopping_ = true;
    draining_ = true;
    uv_timer_stop(&sweep_);
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
    std::vector<ipc::Connection*> all(conns_.begin(), conns_.end());
    for (ipc::Connection* c : all) c->close();
    if (http_) http_->abandonAll();  // HTTP sockets close with the loop
    // Ending the requests aborted their transfers; now the multi handle, its cached
    // connections, polls and timer go, before the loop closes whatever is left.
    http_client_->shutdown();
    // Plugin instances' own timers and fd watches end here, with their final calls, before the
    // loop closes every handle.
    engine_.retireInstanceLoops();
    // Connections free themselves once their last frames are written; the loop stops after the
    // last one (connectionClosed), or right away when there is none. A client that never reads
    // would hold its close forever, so after a grace the rest are closed without waiting.
    if (conns_.empty()) return loop_.stop();
    uv_timer_init(loop_.loop(), &stop_timer_);
    stop_timer_.data = this;
    uv_timer_start(&stop_timer_, [](uv_timer_t* t) {
      auto* self = static_cast<Worker*>(t->data);
      std::vector<ipc::Connection*> stuck(self->conns_.begin(), self->conns_.end());
      for (ipc::Connection* c : stuck) c->forceClose();
    }, kStopGraceMs, 0);
  });
  loop_.join();
}

void Worker::scheduleFlush(ipc::Connection* c) {
  if (dirty_.empty()) {
    uv_check_start(&check_, &Worker::onCheck);
    // Frames queued outside the poll phase (timer callbacks, such as the HTTP client's) must not
    // wait for the next unrelated wake-up: an active idle handle makes this iteration's poll
    // non-blocking, so the check phase flushes right away.
    uv_idle_start(&flush_idle_, [](uv_idle_t*) {});
  }
  dirty_.push_back(c);
}

void Worker::onCheck(uv_check_t* h) {
  auto* self = static_cast<Worker*>(h->data);
  std::vector<ipc::Connection*> dirty;
  dirty.swap(self->dirty_);
  for (ipc::Connection* c : dirty) c->flush();
  if (self->dirty_.empty()) {
    uv_check_stop(&self->check_);
    uv_idle_stop(&self->flush_idle_);
  }
}

void Worker::connectionClosed(ipc::Connection* c) {
  conns_.erase(c);
  dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
  connections_.fetch_sub(1, std::memory_order_relaxed);
  if (stopping_ && conns_.empty()) loop_.stop();
}

}  // namespace outrigger::daemon
