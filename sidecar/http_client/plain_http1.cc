#include "http_client/plain_http1.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "common/clock.h"
#include "event/event_loop.h"
#include "http_client/transfer_clock.h"
#include "plugin/str_view.h"

namespace outrigger::http_client {

namespace {

constexpr size_t kReadBuffer = 16384;
// Like libcurl's default: an idle pooled connection older than this is closed rather than reused
// (a NAT or load balancer may have dropped it without a word).
constexpr uint64_t kMaxIdleNs = 118ull * 1000000000ull;
constexpr unsigned kTcpKeepaliveS = 60;


bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Framing is ours: a plugin's own copy of these would contradict the bytes actually sent.
bool framingHeader(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection") ||
         iequals(name, "expect");
}

// The parts of an http:// URL this transport needs. False when the URL is not one it carries.
struct Target {
  std::string_view authority;  // host[:port] as written, for the pool key and the Host header
  std::string_view host;       // without brackets for IPv6 literals
  uint16_t port = 80;
  std::string_view path;       // from the first '/' or '?', fragment removed; empty means "/"
};

bool splitUrl(std::string_view url, Target* t) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() <= kScheme.size() || !iequals(url.substr(0, kScheme.size()), kScheme)) return false;
  std::string_view rest = url.substr(kScheme.size());
  size_t end = rest.find_first_of("/?#");
  t->authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  path = path.substr(0, path.find('#'));
  t->path = path;
  std::string_view a = t->authority;
  if (a.empty() || a.find('@') != std::string_view::npos) return false;  // credentials: libcurl's job
  std::string_view port;
  if (a.front() == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos) return false;
    t->host = a.substr(1, close - 1);
    std::string_view after = a.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
    }
  } else {
    size_t colon = a.rfind(':');
    t->host = a.substr(0, colon);
    if (colon != std::string_view::npos) port = a.substr(colon + 1);
  }
  if (t->host.empty()) return false;
  if (!port.empty()) {
    uint32_t p = 0;
    for (char ch : port) {
      if (ch < '0' || ch > '9' || (p = p * 10 + uint32_t(ch - '0')) > 65535) return false;
    }
    if (p == 0) return false;
    t->port = uint16_t(p);
  }
  return true;
}

}  // namespace

struct PlainHttp1::Pool {
  std::string authority;
  std::string host;
  uint16_t port = 80;
  bool numeric = false;          // an IP literal: no resolver round trip
  sockaddr_storage address{};
  std::vector<Connection*> all;  // open or opening
  std::vector<Connection*> idle;  // connected and free, most recent last
  std::deque<Exchange*> waiting;  // transfers for which no connection was free
  bool dispatching = false;
};

struct PlainHttp1::Connection {
  uv_tcp_t tcp;
  uv_getaddrinfo_t resolve;
  uv_connect_t connect_req;
  uv_write_t write_req;
  http_parser parser;
  PlainHttp1* transport = nullptr;
  Pool* pool = nullptr;
  Exchange* ex = nullptr;
  std::string out;   // the request being written (owned here: a write can outlive its exchange)
  std::string held;  // bytes read but not parsed while the sink is paused
  addrinfo* addresses = nullptr;     // the resolver's answer (owned), for trying the next address
  addrinfo* next_address = nullptr;  // the one to try if connecting to the current one fails
  uint64_t idle_since = 0;           // when it last went back to the pool
  bool tcp_open = false;
  bool resolving = false;
  bool connected = false;
  bool reused = false;
  bool writing = false;
  bool reading = false;
  bool closing = false;
  char buffer[kReadBuffer];

  ~Connection() {
    if (addresses) uv_freeaddrinfo(addresses);
  }
};

struct PlainHttp1::Exchange {
  PlainHttp1* transport = nullptr;
  uint64_t id = 0;
  outrigger_request owner{};
  outrigger_http_sink sink{};
  void* user_data = nullptr;
  Pool* pool = nullptr;
  Connection* conn = nullptr;
  std::string request;  // the serialized request, kept for one resend on a fresh connection
  bool is_head = false;
  uv_timer_t timer;

  TransferClock clock;  // connect_at is reset whenever a connection starts opening for it

  int status = 0;
  std::vector<std::string> header_names, header_values;
  bool last_was_value = false;
  bool interim = false;  // parsing a 1xx head, which is not reported
  uint64_t body_bytes = 0;
  bool waiting = false;        // in its pool's queue
  bool got_bytes = false;      // any response byte arrived on the current connection
  bool head_delivered = false;
  bool complete = false;       // the whole response was parsed
  bool sink_paused = false;
  bool resent = false;
  bool fresh_only = false;     // resent after a keep-alive race: not on another pooled connection
  bool dead = false;           // no further sink callbacks
  bool report = true;          // on_complete still owed
  outrigger_http_error forced = OUTRIGGER_HTTP_OK;
  outrigger_http_error pending = OUTRIGGER_HTTP_OK;  // a failure to report from the timer
  std::string pending_message;
};

PlainHttp1::PlainHttp1(uv_loop_t* loop, const HttpClientSettings& settings, HttpClientCounters& counters)
    : loop_(loop), settings_(settings), counters_(counters) {
  http_parser_settings_init(&parser_settings_);
  parser_settings_.on_header_field = &PlainHttp1::onHeaderField;
  parser_settings_.on_header_value = &PlainHttp1::onHeaderValue;
  parser_settings_.on_headers_complete = &PlainHttp1::onHeadersComplete;
  parser_settings_.on_body = &PlainHttp1::onBody;
  parser_settings_.on_message_complete = &PlainHttp1::onMessageComplete;
}

PlainHttp1::~PlainHttp1() { shutdown(); }

bool PlainHttp1::accepts(std::string_view url) {
  Target t;
  return splitUrl(url, &t);
}

// ------------------------------------------------------------------ transfers

outrigger_status PlainHttp1::start(uint64_t id, outrigger_request owner, uint64_t deadline_ns,
                                   const outrigger_http_request& request, const outrigger_http_sink& sink, void* user_data) {
  if (shutting_down_) return OUTRIGGER_E_STALE;
  Target target;
  if (!splitUrl(sv(request.url), &target)) return OUTRIGGER_E_INVALID;
  std::string_view body = sv(request.body);
  std::string_view method = sv(request.method);
  if (method.empty()) method = body.empty() ? "GET" : "POST";

  auto* ex = new Exchange;
  ex->transport = this;
  ex->id = id;
  ex->owner = owner;
  ex->sink = sink;
  ex->user_data = user_data;
  ex->is_head = method == "HEAD";

  bool host_given = false;
  for (size_t i = 0; i < request.header_count; ++i) host_given |= iequals(sv(request.headers[i].name), "host");
  std::string& r = ex->request;
  r.reserve(128 + target.path.size() + body.size() + request.header_count * 48);
  r.append(method).append(" ");
  if (target.path.empty() || target.path.front() != '/') r.append("/");
  r.append(target.path).append(" HTTP/1.1\r\n");
  if (!host_given) r.append("Host: ").append(target.authority).append("\r\n");
  for (size_t i = 0; i < request.header_count; ++i) {
    std::string_view name = sv(request.headers[i].name);
    if (framingHeader(name)) continue;
    r.append(name).append(": ").append(sv(request.headers[i].value)).append("\r\n");
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  r.append("\r\n").append(body);

  ex->clock.start(monoNowNs(), request, settings_, deadline_ns);

  uv_timer_init(loop_, &ex->timer);
  ex->timer.data = ex;
  ex->pool = poolFor(target.authority, target.host, target.port);
  exchanges_.emplace(id, ex);
  armTimer(ex);
  ex->waiting = true;
  ex->pool->waiting.push_back(ex);
  dispatch(ex->pool);
  if (auto* loop = event::EventLoop::current()) loop->keepHot();
  return OUTRIGGER_OK;
}

PlainHttp1::Exchange* PlainHttp1::find(outrigger_request owner, uint64_t id, outrigger_status* status) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end() || it->second->dead) {
    *status = OUTRIGGER_E_STALE;
    return nullptr;
  }
  Exchange* ex = it->second;
  if (ex->owner.slot != owner.slot || ex->owner.generation != owner.generation) {
    *status = OUTRIGGER_E_INVALID;
    return nullptr;
  }
  *status = OUTRIGGER_OK;
  return ex;
}

outrigger_status PlainHttp1::cancel(outrigger_request owner, uint64_t id) {
  outrigger_status st;
  Exchange* ex = find(owner, id, &st);
  if (!ex) return st;
  counters_.cancelled.fetch_add(1, std::memory_order_relaxed);
  abort(ex, /*report=*/false);
  return OUTRIGGER_OK;
}

outrigger_status PlainHttp1::resume(outrigger_request owner, uint64_t id) {
  outrigger_status st;
  Exchange* ex = find(owner, id, &st);
  if (!ex) return st;
  if (!ex->sink_paused) return OUTRIGGER_OK;
  ex->sink_paused = false;
  ex->clock.last_data_ns = monoNowNs();  // the idle clock restarts when the receiver is ready again
  armTimer(ex);
  Connection* c = ex->conn;
  if (!c || c->closing) return OUTRIGGER_OK;
  http_parser_pause(&c->parser, 0);
  if (!c->reading) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &PlainHttp1::onAlloc, &PlainHttp1::onRead);
    c->reading = true;
  }
  if (!c->held.empty()) {
    std::string held = std::move(c->held);
    c->held.clear();
    feed(c, held.data(), held.size());  // may pause (and stop reading) again, complete, or fail
  }
  return OUTRIGGER_OK;
}

void PlainHttp1::abortEnded(uint64_t id) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end() || it->second->dead) return;
  counters_.cancelled.fetch_add(1, std::memory_order_relaxed);
  it->second->forced = OUTRIGGER_HTTP_E_CANCELLED;
  abort(it->second, /*report=*/true);
}

void PlainHttp1::abort(Exchange* ex, bool report) {
  if (ex->dead) return;
  if (ex->waiting) {
    auto& q = ex->pool->waiting;
    q.erase(std::remove(q.begin(), q.end(), ex), q.end());
    ex->waiting = false;
  }
  if (ex->forced == OUTRIGGER_HTTP_OK) ex->forced = OUTRIGGER_HTTP_E_CANCELLED;
  if (report && parsing_ > 0) {
    // Inside a sink callback (a plugin's on_head or on_body ended its request): on_complete must
    // not run nested in it, so it comes from the timer, as failures do.
    return fail(ex, ex->forced, endedText(ex->forced));
  }
  if (Connection* c = ex->conn) {
    // Mid-exchange the rest of the response would arrive on it; still opening, it may never
    // connect (a connect timeout ends here): either way it goes.
    c->ex = nullptr;
    ex->conn = nullptr;
    closeConnection(c);
  }
  if (report) {
    complete(ex, ex->forced, endedText(ex->forced));
  } else {
    ex->report = false;
    complete(ex, ex->forced, "");
  }
}

// Failures are reported from the exchange's timer: never inside http_request, and never while
// the parser or libuv is in the middle of a callback for the connection.
void PlainHttp1::fail(Exchange* ex, outrigger_http_error error, std::string message) {
  if (ex->dead || ex->pending != OUTRIGGER_HTTP_OK) return;
  if (ex->waiting) {
    auto& q = ex->pool->waiting;
    q.erase(std::remove(q.begin(), q.end(), ex), q.end());
    ex->waiting = false;
  }
  if (Connection* c = ex->conn) {
    c->ex = nullptr;
    ex->conn = nullptr;
    closeConnection(c);
  }
  ex->pending = error;
  ex->pending_message = std::move(message);
  uv_timer_start(&ex->timer, &PlainHttp1::onTimer, 0, 0);
}

void PlainHttp1::complete(Exchange* ex, outrigger_http_error error, std::string message) {
  exchanges_.erase(ex->id);
  uv_timer_stop(&ex->timer);
  bool report = ex->report;
  ex->report = false;
  ex->dead = true;
  if (report) {
    outrigger_http_result result;
    std::memset(&result, 0, sizeof result);
    result.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_result);
    result.error = error;
    result.status = ex->head_delivered ? ex->status : 0;
    result.message = {message.data(), message.size()};
    result.body_bytes = ex->body_bytes;
    if (error == OUTRIGGER_HTTP_OK) counters_.completed.fetch_add(1, std::memory_order_relaxed);
    else if (error != OUTRIGGER_HTTP_E_CANCELLED) counters_.failed.fetch_add(1, std::memory_order_relaxed);
    if (error >= OUTRIGGER_HTTP_E_CONNECT_TIMEOUT && error <= OUTRIGGER_HTTP_E_DEADLINE) {
      counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    ex->sink.on_complete(ex->user_data, &result);
  }
  destroy(ex);
}

void PlainHttp1::destroy(Exchange* ex) {
  uv_close(reinterpret_cast<uv_handle_t*>(&ex->timer), [](uv_handle_t* h) { delete static_cast<Exchange*>(h->data); });
}

// ------------------------------------------------------------------ timeouts

void PlainHttp1::armTimer(Exchange* ex) {
  if (ex->dead || ex->pending != OUTRIGGER_HTTP_OK) return;
  bool connecting = ex->conn && !ex->conn->connected;
  uint64_t at = ex->clock.nextAt(connecting, ex->head_delivered, ex->sink_paused);
  uv_timer_start(&ex->timer, &PlainHttp1::onTimer, TransferClock::delayMs(monoNowNs(), at), 0);
}

void PlainHttp1::onTimer(uv_timer_t* timer) {
  auto* ex = static_cast<Exchange*>(timer->data);
  ex->transport->timeoutFired(ex);
}

void PlainHttp1::timeoutFired(Exchange* ex) {
  if (ex->dead) return;
  if (ex->pending != OUTRIGGER_HTTP_OK) return complete(ex, ex->pending, std::move(ex->pending_message));
  bool connecting = ex->conn && !ex->conn->connected;
  outrigger_http_error e = ex->clock.expired(monoNowNs(), connecting, ex->head_delivered, ex->sink_paused);
  if (e == OUTRIGGER_HTTP_OK) return armTimer(ex);  // fired a little early
  ex->forced = e;
  abort(ex, /*report=*/true);
}

// ------------------------------------------------------------------ connections

PlainHttp1::Pool* PlainHttp1::poolFor(std::string_view authority, std::string_view host, uint16_t port) {
  auto it = pools_.find(std::string(authority));
  if (it != pools_.end()) return it->second.get();
  auto pool = std::make_unique<Pool>();
  pool->authority.assign(authority);
  pool->host.assign(host);
  pool->port = port;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&pool->address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&pool->address);
  if (uv_ip4_addr(pool->host.c_str(), port, v4) == 0 || uv_ip6_addr(pool->host.c_str(), port, v6) == 0) {
    pool->numeric = true;
  }
  Pool* raw = pool.get();
  pools_.emplace(pool->authority, std::move(pool));
  return raw;
}

void PlainHttp1::dispatch(Pool* pool) {
  if (pool->dispatching || shutting_down_) return;
  pool->dispatching = true;
  uint32_t limit = settings_.max_host_connections;
  while (!pool->waiting.empty()) {
    Exchange* ex = pool->waiting.front();
    if (!ex->fresh_only && !pool->idle.empty()) {
      Connection* c = pool->idle.back();
      if (monoNowNs() - c->idle_since > kMaxIdleNs) {
        closeConnection(c);  // takes it off the idle list
        continue;
      }
      pool->idle.pop_back();
      pool->waiting.pop_front();
      ex->waiting = false;
      c->reused = true;
      attach(c, ex);
    } else if (limit == 0 || pool->all.size() < limit) {
      pool->waiting.pop_front();
      ex->waiting = false;
      openConnection(pool, ex);
    } else if (ex->fresh_only && !pool->idle.empty()) {
      closeConnection(pool->idle.front());  // room for the fresh connection it needs
    } else {
      break;  // the next connection that frees up takes it
    }
  }
  pool->dispatching = false;
}

void PlainHttp1::openConnection(Pool* pool, Exchange* ex) {
  auto* c = new Connection;
  c->transport = this;
  c->pool = pool;
  c->ex = ex;
  ex->conn = c;
  ex->got_bytes = false;
  ex->clock.connect_at = monoNowNs() + ex->clock.connect_ns;
  armTimer(ex);
  pool->all.push_back(c);
  ++open_connections_;
  c->resolve.data = c;
  if (pool->numeric) return connectTo(c, reinterpret_cast<const sockaddr*>(&pool->address));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
  std::string port = std::to_string(pool->port);
  c->resolving = true;
  if (int rc = uv_getaddrinfo(loop_, &c->resolve, &PlainHttp1::onResolved, pool->host.c_str(), port.c_str(), &hints);
      rc != 0) {
    c->resolving = false;
    fail(ex, OUTRIGGER_HTTP_E_RESOLVE, std::string("could not resolve ") + pool->host + ": " + uv_strerror(rc));
  }
}

void PlainHttp1::onResolved(uv_getaddrinfo_t* req, int status, addrinfo* result) {
  auto* c = static_cast<Connection*>(req->data);
  c->resolving = false;
  PlainHttp1* self = c->transport;
  if (c->closing) {  // abandoned (or shut down) while resolving; the handle was never opened
    if (result) uv_freeaddrinfo(result);
    delete c;
    return;
  }
  if (status != 0 || !result) {
    if (result) uv_freeaddrinfo(result);
    Exchange* ex = c->ex;
    std::string message = "could not resolve " + c->pool->host + ": " + uv_strerror(status);
    if (ex) self->fail(ex, OUTRIGGER_HTTP_E_RESOLVE, std::move(message));
    else self->closeConnection(c);
    return;
  }
  c->addresses = result;
  c->next_address = result->ai_next;
  self->connectTo(c, result->ai_addr);
}

void PlainHttp1::connectTo(Connection* c, const sockaddr* addr) {
  uv_tcp_init(loop_, &c->tcp);
  c->tcp.data = c;
  c->tcp_open = true;
  counters_.sockets_opened.fetch_add(1, std::memory_order_relaxed);
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, kTcpKeepaliveS);
  c->connect_req.data = c;
  if (int rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, &PlainHttp1::onConnected); rc != 0) {
    std::string message = std::string("connect to ") + c->pool->authority + " failed: " + uv_strerror(rc);
    if (c->ex) fail(c->ex, OUTRIGGER_HTTP_E_CONNECT, std::move(message));
    else closeConnection(c);
  }
}

void PlainHttp1::onConnected(uv_connect_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (c->closing) return;  // closed while connecting (status is UV_ECANCELED)
  PlainHttp1* self = c->transport;
  if (status != 0) {
    if (c->ex && c->next_address) return self->connectNext(c);  // a name with more addresses: the next one
    std::string message = std::string("connect to ") + c->pool->authority + " failed: " + uv_strerror(status);
    if (c->ex) self->fail(c->ex, OUTRIGGER_HTTP_E_CONNECT, std::move(message));
    else self->closeConnection(c);
    return;
  }
  c->connected = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &PlainHttp1::onAlloc, &PlainHttp1::onRead);
  c->reading = true;
  if (Exchange* ex = c->ex) {
    self->attach(c, ex);
  } else {
    self->release(c);  // its transfer ended while it connected: it serves the next one
    self->dispatch(c->pool);
  }
}

// A handle that failed to connect cannot connect again: a new connection takes over the transfer
// and the remaining addresses, within the same connect timeout.
void PlainHttp1::connectNext(Connection* failed) {
  Pool* pool = failed->pool;
  Exchange* ex = failed->ex;
  auto* c = new Connection;
  c->transport = this;
  c->pool = pool;
  c->resolve.data = c;
  c->addresses = failed->addresses;
  failed->addresses = nullptr;
  addrinfo* address = failed->next_address;
  c->next_address = address->ai_next;
  pool->all.push_back(c);
  ++open_connections_;
  failed->ex = nullptr;
  closeConnection(failed);
  c->ex = ex;
  ex->conn = c;
  connectTo(c, address->ai_addr);
}

void PlainHttp1::attach(Connection* c, Exchange* ex) {
  c->ex = ex;
  ex->conn = c;
  ex->got_bytes = false;
  http_parser_init(&c->parser, HTTP_RESPONSE);
  c->parser.data = c;
  c->held.clear();
  armTimer(ex);  // the connect phase is over
  send(c);
}

void PlainHttp1::send(Connection* c) {
  Exchange* ex = c->ex;
  c->out = ex->request;
  // Most requests fit the socket buffer: one send, no write request. MSG_NOSIGNAL because a
  // server may have closed a pooled connection (EPIPE is handled like its close).
  uv_os_fd_t fd = -1;
  ssize_t sent = 0;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0) {
    sent = ::send(fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return peerClosed(c, uv_translate_sys_error(errno));
    if (sent < 0) sent = 0;
  }
  if (size_t(sent) == c->out.size()) return;
  uv_buf_t rest = uv_buf_init(c->out.data() + sent, unsigned(c->out.size() - size_t(sent)));
  c->write_req.data = c;
  c->writing = true;
  if (int rc = uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &rest, 1, &PlainHttp1::onWritten); rc != 0) {
    c->writing = false;
    peerClosed(c, rc);
  }
}

void PlainHttp1::onWritten(uv_write_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  c->writing = false;
  if (status != 0 && !c->closing) c->transport->peerClosed(c, status);
}

void PlainHttp1::onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(c->buffer, sizeof c->buffer);
}

void PlainHttp1::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  if (c->closing) return;
  if (nread > 0) c->transport->feed(c, buf->base, size_t(nread));
  else if (nread < 0) c->transport->peerClosed(c, int(nread));
}

void PlainHttp1::feed(Connection* c, const char* data, size_t len) {
  if (auto* loop = event::EventLoop::current()) loop->keepHot();
  if (!c->ex) return closeConnection(c);  // bytes on an idle connection: nothing can be trusted on it
  c->ex->got_bytes = true;
  ++parsing_;
  size_t parsed = http_parser_execute(&c->parser, &parser_settings_, data, len);
  --parsing_;
  afterParse(c, parsed, len, data);
}

void PlainHttp1::afterParse(Connection* c, size_t parsed, size_t len, const char* data) {
  Exchange* ex = c->ex;
  if (c->closing || !ex) return;  // the transfer was cancelled from one of its callbacks
  http_errno err = HTTP_PARSER_ERRNO(&c->parser);
  if (ex->complete) {
    // Bytes after the response (an unasked-for second response) make the connection unusable;
    // so does a request still being written (a server may answer before reading it all).
    bool reuse = http_should_keep_alive(&c->parser) && parsed == len && !c->writing && !shutting_down_;
    c->ex = nullptr;
    ex->conn = nullptr;
    if (reuse) release(c);
    else closeConnection(c);
    Pool* pool = ex->pool;
    complete(ex, OUTRIGGER_HTTP_OK, "");
    dispatch(pool);
    return;
  }
  if (err == HPE_PAUSED) {  // the sink asked for no more: keep the rest and stop reading
    c->held.assign(data + parsed, len - parsed);
    if (c->reading) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
      c->reading = false;
    }
    return;
  }
  if (err != HPE_OK) {
    if (ex->forced == OUTRIGGER_HTTP_E_ABORTED) return fail(ex, OUTRIGGER_HTTP_E_ABORTED, "transfer aborted by its receiver");
    return fail(ex, OUTRIGGER_HTTP_E_TRANSPORT, std::string("malformed response: ") + http_errno_description(err));
  }
}

void PlainHttp1::peerClosed(Connection* c, int status) {
  if (c->closing) return;
  Exchange* ex = c->ex;
  if (!ex) return closeConnection(c);  // an idle connection the server closed
  if (status == UV_EOF && ex->got_bytes) {
    // The end of a body delimited by the connection's close completes the response.
    ++parsing_;
    size_t parsed = http_parser_execute(&c->parser, &parser_settings_, nullptr, 0);
    --parsing_;
    if (c->ex == ex && ex->complete) return afterParse(c, parsed, 0, nullptr);
    if (c->closing || c->ex != ex) return;
  }
  // The keep-alive race: the server closed a pooled connection as the request went out. Nothing
  // of it was answered, so it goes once more, on a new connection.
  if (c->reused && !ex->got_bytes && !ex->resent && !shutting_down_) {
    ex->resent = true;
    c->ex = nullptr;
    ex->conn = nullptr;
    Pool* pool = ex->pool;
    // First in line: it was sent before anything waiting. dispatch opens a fresh connection
    // (the closed one freed a slot) unless another closed first and took it.
    ex->fresh_only = true;
    ex->waiting = true;
    pool->waiting.push_front(ex);
    closeConnection(c);  // dispatches
    return;
  }
  std::string message = ex->head_delivered ? "connection closed before the response body completed"
                                           : "connection closed before a response arrived";
  if (status != UV_EOF) message += std::string(": ") + uv_strerror(status);
  fail(ex, OUTRIGGER_HTTP_E_TRANSPORT, std::move(message));
}

void PlainHttp1::release(Connection* c) {
  c->ex = nullptr;
  c->held.clear();
  if (shutting_down_ || !c->connected || !c->reading || c->writing) return closeConnection(c);
  c->idle_since = monoNowNs();
  c->pool->idle.push_back(c);
}

void PlainHttp1::closeConnection(Connection* c) {
  if (c->closing) return;
  c->closing = true;
  Pool* pool = c->pool;
  pool->idle.erase(std::remove(pool->idle.begin(), pool->idle.end(), c), pool->idle.end());
  pool->all.erase(std::remove(pool->all.begin(), pool->all.end(), c), pool->all.end());
  --open_connections_;
  if (c->ex) {
    c->ex->conn = nullptr;
    c->ex = nullptr;
  }
  if (c->resolving) {
    uv_cancel(reinterpret_cast<uv_req_t*>(&c->resolve));  // onResolved frees it
  } else if (c->tcp_open) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
  } else {
    delete c;
  }
  if (!pool->waiting.empty()) dispatch(pool);  // a slot is free for a queued transfer
}

// ------------------------------------------------------------------ response parsing

int PlainHttp1::onHeaderField(http_parser* p, const char* at, size_t len) {
  Exchange* ex = static_cast<Connection*>(p->data)->ex;
  if (!ex) return -1;
  if (ex->header_names.empty() || ex->last_was_value) {
    ex->header_names.emplace_back(at, len);
    ex->header_values.emplace_back();
  } else {
    ex->header_names.back().append(at, len);
  }
  ex->last_was_value = false;
  return 0;
}

int PlainHttp1::onHeaderValue(http_parser* p, const char* at, size_t len) {
  Exchange* ex = static_cast<Connection*>(p->data)->ex;
  if (!ex || ex->header_values.empty()) return -1;
  ex->header_values.back().append(at, len);
  ex->last_was_value = true;
  return 0;
}

int PlainHttp1::onHeadersComplete(http_parser* p) {
  auto* c = static_cast<Connection*>(p->data);
  Exchange* ex = c->ex;
  if (!ex) return -1;
  if (p->status_code < 200) {  // an interim head (103 Early Hints ...): not reported
    ex->interim = true;
    ex->header_names.clear();
    ex->header_values.clear();
    ex->last_was_value = false;
    return 0;
  }
  ex->status = p->status_code;
  ex->head_delivered = true;
  ex->clock.last_data_ns = monoNowNs();
  if (ex->sink.on_head) {
    std::vector<outrigger_http_header> headers(ex->header_names.size());
    for (size_t i = 0; i < headers.size(); ++i) {
      headers[i] = {{ex->header_names[i].data(), ex->header_names[i].size()},
                    {ex->header_values[i].data(), ex->header_values[i].size()}};
    }
    outrigger_http_response_head head;
    std::memset(&head, 0, sizeof head);
    head.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_response_head);
    head.status = ex->status;
    head.headers = headers.data();
    head.header_count = headers.size();
    outrigger_status rc = ex->sink.on_head(ex->user_data, &head);
    if (c->ex != ex || ex->dead) return -1;
    if (rc < 0) {
      ex->forced = OUTRIGGER_HTTP_E_ABORTED;
      return -1;
    }
  }
  c->transport->armTimer(ex);
  // 1: no body whatever the headers say: a response to HEAD, a 204 or a 304 (RFC 9110 6.4.1).
  return ex->is_head || ex->status == 204 || ex->status == 304 ? 1 : 0;
}

int PlainHttp1::onBody(http_parser* p, const char* at, size_t len) {
  auto* c = static_cast<Connection*>(p->data);
  Exchange* ex = c->ex;
  if (!ex) return -1;
  PlainHttp1* self = c->transport;
  ex->body_bytes += len;
  ex->clock.last_data_ns = monoNowNs();
  self->counters_.bytes_received.fetch_add(len, std::memory_order_relaxed);
  outrigger_status rc = OUTRIGGER_OK;
  if (ex->sink.on_body) rc = ex->sink.on_body(ex->user_data, {at, len});
  if (c->ex != ex || ex->dead) return -1;
  if (rc < 0) {
    ex->forced = OUTRIGGER_HTTP_E_ABORTED;
    return -1;
  }
  if (rc == OUTRIGGER_PAUSE) {
    ex->sink_paused = true;
    self->counters_.paused.fetch_add(1, std::memory_order_relaxed);
    http_parser_pause(p, 1);
  }
  self->armTimer(ex);
  return 0;
}

int PlainHttp1::onMessageComplete(http_parser* p) {
  Exchange* ex = static_cast<Connection*>(p->data)->ex;
  if (!ex) return -1;
  if (ex->interim) {  // the final response follows on the same connection
    ex->interim = false;
    return 0;
  }
  ex->complete = true;
  http_parser_pause(p, 1);  // nothing after this response belongs to this transfer
  return 0;
}

// ------------------------------------------------------------------ shutdown

void PlainHttp1::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  std::vector<Exchange*> all;
  for (auto& [id, ex] : exchanges_) all.push_back(ex);
  for (Exchange* ex : all) {
    if (ex->dead) continue;
    ex->forced = OUTRIGGER_HTTP_E_CANCELLED;
    abort(ex, /*report=*/true);
  }
  for (auto& [key, pool] : pools_) {
    std::vector<Connection*> conns = pool->all;
    for (Connection* c : conns) closeConnection(c);
  }
}

}  // namespace outrigger::http_client
