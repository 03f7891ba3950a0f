// The plain-HTTP/1.1 transport of one worker's HttpClient: `http://` upstreams (a local vLLM or
// Ollama, an in-cluster gateway, a test server) over keep-alive libuv TCP connections, responses
// parsed by http-parser. It exists for cost: through libcurl a small unary call spent about half
// of the sidecar's CPU in curl's generic machinery and in the extra poll/epoll_ctl calls of its
// socket callbacks; here a reused connection costs one write and one read per call.
//
// It keeps HttpClient's contract exactly (same sink calls, timeouts, errors, counters, cancel,
// pause/resume, shutdown); HttpClient picks it per transfer and keeps libcurl for everything
// else (TLS, HTTP/2, proxies, URLs with credentials).
//
// Connections: one pool per authority (host:port), at most max_host_connections open per pool;
// transfers beyond that wait in the pool's queue (bounded by their own timeouts). Idle
// connections keep reading, so a server's close is noticed at once and they leave the pool.
// A request sent on a reused connection that the server closed before answering a single byte
// is sent once more on a fresh connection (the keep-alive race RFC 9112 9.3.1 describes).
//
// Thread: the owning loop's thread only.
#pragma once

#include <http_parser.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <outrigger/plugin.h>

#include "http_client/http_client.h"

namespace outrigger::http_client {

class PlainHttp1 {
 public:
  PlainHttp1(uv_loop_t* loop, const HttpClientSettings& settings, HttpClientCounters& counters);
  ~PlainHttp1();
  PlainHttp1(const PlainHttp1&) = delete;
  PlainHttp1& operator=(const PlainHttp1&) = delete;

  // True when this transport can carry `url`: http://, an authority without credentials.
  static bool accepts(std::string_view url);

  // As HttpClient::start, with the id chosen by the caller. The request was validated already.
  outrigger_status start(uint64_t id, outrigger_request owner, uint64_t deadline_ns, const outrigger_http_request& request,
                         const outrigger_http_sink& sink, void* user_data);
  bool owns(uint64_t id) const { return exchanges_.count(id) != 0; }
  outrigger_status cancel(outrigger_request owner, uint64_t id);
  outrigger_status resume(outrigger_request owner, uint64_t id);
  // The transfer's request ended: it completes with OUTRIGGER_HTTP_E_CANCELLED (no-op when over).
  void abortEnded(uint64_t id);
  // Completes everything as cancelled and closes every connection; the loop must run afterwards.
  void shutdown();

  size_t active() const { return exchanges_.size(); }
  size_t openConnections() const { return open_connections_; }

  struct Exchange;
  struct Connection;
  struct Pool;

 private:
  static void onResolved(uv_getaddrinfo_t* req, int status, addrinfo* result);
  static void onConnected(uv_connect_t* req, int status);
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onWritten(uv_write_t* req, int status);
  static void onTimer(uv_timer_t* timer);
  static int onHeaderField(http_parser* p, const char* at, size_t len);
  static int onHeaderValue(http_parser* p, const char* at, size_t len);
  static int onHeadersComplete(http_parser* p);
  static int onBody(http_parser* p, const char* at, size_t len);
  static int onMessageComplete(http_parser* p);

  Exchange* find(outrigger_request owner, uint64_t id, outrigger_status* status);
  Pool* poolFor(std::string_view authority, std::string_view host, uint16_t port);
  void dispatch(Pool* pool);
  void openConnection(Pool* pool, Exchange* ex);
  void connectTo(Connection* c, const sockaddr* addr);
  void connectNext(Connection* failed);
  void attach(Connection* c, Exchange* ex);
  void send(Connection* c);
  void feed(Connection* c, const char* data, size_t len);
  void afterParse(Connection* c, size_t parsed, size_t len, const char* data);
  void peerClosed(Connection* c, int status);
  void release(Connection* c);  // the exchange is over: back to the pool or closed
  void closeConnection(Connection* c);
  void armTimer(Exchange* ex);
  void timeoutFired(Exchange* ex);
  void fail(Exchange* ex, outrigger_http_error error, std::string message);
  void abort(Exchange* ex, bool report);
  void complete(Exchange* ex, outrigger_http_error error, std::string message);
  void destroy(Exchange* ex);

  uv_loop_t* loop_;
  const HttpClientSettings& settings_;
  HttpClientCounters& counters_;
  http_parser_settings parser_settings_{};
  std::unordered_map<std::string, std::unique_ptr<Pool>> pools_;
  std::unordered_map<uint64_t, Exchange*> exchanges_;
  size_t open_connections_ = 0;
  int parsing_ = 0;  // depth of http_parser_execute calls: sink callbacks may be running
  bool shutting_down_ = false;
};

}  // namespace outrigger::http_client
