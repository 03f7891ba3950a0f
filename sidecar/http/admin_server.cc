#include "http/admin_server.h"

#include <unistd.h>

#include "common/rate_limited_log.h"
#include "http/dashboard_page.h"
#include "http/local_origin.h"
#include "http/reply.h"

namespace outrigger::http {

struct AdminServer::Handler {
  h2o_handler_t super;
  AdminServer* server;
};

namespace {
struct AdminSocket {
  union {
    uv_handle_t handle;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  };
  std::shared_ptr<size_t> open;  // the server's count, given back when the socket is freed
};
}  // namespace

AdminServer::AdminServer(uv_loop_t* loop, AdminSources sources)
    : sources_(std::move(sources)), traces_(loop, sources_.trace_store) {
  h2o_config_init(&config_);
  config_.server_name = h2o_iovec_init(H2O_STRLIT("outrigger"));
  config_.max_request_entity_size = 64 * 1024;
  config_.http1.req_timeout = 10000;
  h2o_hostconf_t* host = h2o_config_register_host(&config_, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
  auto* handler = reinterpret_cast<Handler*>(h2o_create_handler(path, sizeof(Handler)));
  handler->super.on_req = &AdminServer::onRequest;
  handler->server = this;
  h2o_context_init(&ctx_, loop, &config_);
  accept_ctx_ = {};
  accept_ctx_.ctx = &ctx_;
  accept_ctx_.hosts = config_.hosts;
}

// As with the worker fronts, the context goes with the loop (see HttpFront::~HttpFront).
AdminServer::~AdminServer() = default;

void AdminServer::accept(int fd, bool is_unix) {
  if (*open_ >= kMaxConnections) {
    ::close(fd);
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, "admin",
              "closed a connection: " + std::to_string(kMaxConnections) + " admin connections are open");
    return;
  }
  auto* s = new AdminSocket;
  s->open = open_;
  ++*open_;
  int rc;
  if (is_unix) {
    uv_pipe_init(ctx_.loop, &s->pipe, 0);
    rc = uv_pipe_open(&s->pipe, fd);
  } else {
    uv_tcp_init(ctx_.loop, &s->tcp);
    rc = uv_tcp_open(&s->tcp, fd);
  }
  auto free_socket = [](uv_handle_t* h) {
    auto* socket = reinterpret_cast<AdminSocket*>(h);
    --*socket->open;
    delete socket;
  };
  if (rc != 0) {
    ::close(fd);
    uv_close(&s->handle, free_socket);
    return;
  }
  h2o_accept(&accept_ctx_, h2o_uv_socket_create(reinterpret_cast<uv_stream_t*>(&s->handle), free_socket));
}

int AdminServer::onRequest(h2o_handler_t* self, h2o_req_t* req) {
  return reinterpret_cast<Handler*>(self)->server->serve(req);
}

// A page whose name an attacker rebinds to 127.0.0.1 names itself in Host and is refused, though
// it reaches the port: otherwise it could read /traces as its own origin (local_origin.h).
bool AdminServer::hostAllowed(std::string_view host) const { return http::hostAllowed(host, sources_.allowed_hosts); }

namespace {
// A Host header as a log line may show it: printable ASCII, at most 100 bytes.
std::string repairedHost(std::string_view host) {
  std::string out;
  for (char c : host.substr(0, 100)) out += c >= 0x20 && c < 0x7F ? c : '?';
  return out;
}
}  // namespace

int AdminServer::serve(h2o_req_t* req) {
  std::string_view path = view(req->path_normalized);
  std::string alerts_json;
  std::string_view method = view(req->method);
  if (!hostAllowed(view(req->authority))) {
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, "admin",
              "refused a request naming Host '" + repairedHost(view(req->authority)) +
                  "' (not an IP literal, a one-label name or in [admin] allowed_hosts)");
    sendWhole(req, 421, "Misdirected Request", "text/plain; charset=utf-8",
              "this Host is not one the admin server answers; name it in [admin] allowed_hosts\n");
    return 0;
  }
  if (method != "GET" && method != "HEAD") {
    addHeader(req, "allow", "GET, HEAD");
    sendWhole(req, 405, "Method Not Allowed", "text/plain; charset=utf-8", "method not allowed\n");
    return 0;
  }
  // Probes and the dashboard page are open: neither carries data (the page's fetches need the token).
  bool open = path == "/healthz" || path == "/readyz" || path == "/" || path == "/dashboard";
  if (!open && !sources_.token.empty() &&
      !bearerMatches(requestHeader(req, "authorization"), sources_.token)) {
    addHeader(req, "www-authenticate", "Bearer");
    sendWhole(req, 401, "Unauthorized", "text/plain; charset=utf-8", "a bearer token is required\n");
    return 0;
  }
  if (path == "/" || path == "/dashboard") {
    serveDashboard(req);
  } else if (path == "/healthz") {
    sendWhole(req, 200, "OK", "text/plain; charset=utf-8", "ok\n");
  } else if (path == "/readyz") {
    bool ready = sources_.ready && sources_.ready();
    sendWhole(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", "text/plain; charset=utf-8",
              ready ? "ready\n" : "not ready\n");
  } else if (path == "/version") {
    sendWhole(req, 200, "OK", "application/json",
              "{\"version\":\"" + sources_.version + "\",\"protocol\":\"1.0\",\"http_library\":\"h2o " +
                  H2O_VERSION + "\"}");
  } else if (path == "/metrics") {
    std::string text = sources_.metrics ? sources_.metrics() : std::string();
    sendWhole(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text);
  } else if (path == "/alerts" && sources_.alerts && !(alerts_json = sources_.alerts()).empty()) {
    sendWhole(req, 200, "OK", "application/json", alerts_json);
  } else if (!traces_.serve(req, path)) {
    sendWhole(req, 404, "Not Found", "text/plain; charset=utf-8", "not found\n");
  }
  return 0;
}

}  // namespace outrigger::http
