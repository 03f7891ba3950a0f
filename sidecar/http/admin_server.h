// The admin endpoints, on their own listener (loopback by default) and on the daemon's main
// loop, so probes answer even when every worker is busy:
//   GET /healthz  200 while the process serves at all
//   GET /readyz   200 once the config is loaded and plugins are created, 503 while draining
//   GET /version  {"version": ..., "protocol": ...}
//   GET /metrics  Prometheus text format 0.0.4
//   GET /traces, /traces/stats, /traces/<id>  the local trace store as JSON (admin_traces.h)
//   GET /alerts   the alert rules' pending and firing alerts as JSON (404 without rules)
//   GET /, /dashboard  the dashboard page, which reads the endpoints above (dashboard_page.h)
#pragma once

#include <memory>

#include <h2o.h>
#include <uv.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/admin_traces.h"

namespace outrigger::http {

struct AdminSources {
  std::function<bool()> ready;            // [main thread]
  std::function<std::string()> metrics;   // [main thread] the whole exposition text
  std::string version;
  std::function<std::string()> trace_store;  // [main thread] the store's path; "" when none
  std::function<std::string()> alerts;       // [main thread] /alerts as JSON; "" when no rules
  // When set, every path but /healthz, /readyz and the dashboard page needs "Authorization:
  // Bearer <token>" (probes stay open: they reveal nothing and kubelets should not need the
  // secret; the page holds no data and asks the reader for the token its fetches send).
  std::string token;
  // Host names a request may name besides IP literals and localhost ([admin] allowed_hosts).
  std::vector<std::string> allowed_hosts;
};

class AdminServer {
 public:
  AdminServer(uv_loop_t* loop, AdminSources sources);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Connections served at once; one past it is closed at accept. Probes, a scraper and a
  // browser's dashboard need a handful; the cap keeps a crowd from taking the descriptors and
  // memory the fronts and upstreams rely on (the daemon's reserve, daemon.cc).
  static constexpr size_t kMaxConnections = 64;

  // Serves a connected socket (from an HttpListener on the same loop), or closes it when
  // kMaxConnections are open.
  void accept(int fd, bool is_unix);
  // Whether a request naming `host` (its Host header) is answered: see admin_server.cc.
  bool hostAllowed(std::string_view host) const;

 private:
  struct Handler;
  static int onRequest(h2o_handler_t* self, h2o_req_t* req);
  int serve(h2o_req_t* req);

  AdminSources sources_;
  AdminTraces traces_;
  h2o_globalconf_t config_;
  h2o_context_t ctx_;
  h2o_accept_ctx_t accept_ctx_;
  // Open connections; shared with each socket's close callback, which may run after this
  // server is gone (the loop closes what is left).
  std::shared_ptr<size_t> open_ = std::make_shared<size_t>(0);
};

}  // namespace outrigger::http
