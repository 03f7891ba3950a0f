// The outbound HTTP client of one worker: one libcurl multi handle driven by the worker's libuv
// loop (multi_socket + one uv_poll per socket + one uv_timer), offered to provider plugins
// through the host API (http_request / http_cancel / http_resume).
//
// What it owns and why:
// - Sockets. curl opens and closes them through our callbacks, so a socket's uv_poll is always
//   stopped and closed before its fd is closed: an fd number can then never be reused while an
//   old watcher still points at it (the epoll EBADF abort and the watcher assertion).
// - Timeouts. curl enforces the connect timeout; first byte, idle gap, total and the request's
//   deadline run on one uv_timer per transfer, and the earliest of them always wins.
// - Backpressure. A sink that answers OUTRIGGER_PAUSE gets nothing more: the next write is
//   refused with CURL_WRITEFUNC_PAUSE (curl keeps those bytes) until resume().
// - Reentrancy. curl's callbacks run inside socket_action; anything that must not happen there
//   (removing a handle, freeing a transfer) is deferred until socket_action returns.
//
// http:// upstreams (no proxy in the environment) take the plain HTTP/1.1 transport instead,
// with the same contract; see plain_http1.h for why.
//
// Thread: everything runs on the owning loop's thread. Shutdown order: the worker ends its
// requests (each aborts its transfers), then calls shutdown(), then lets the loop close.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <outrigger/plugin.h>

namespace outrigger::http_client {

class PlainHttp1;

struct HttpClientSettings {
  uint32_t connect_timeout_ms = 5000;
  uint32_t first_byte_timeout_ms = 60000;
  uint32_t idle_timeout_ms = 30000;
  uint32_t total_timeout_ms = 600000;
  uint32_t max_host_connections = 256;  // per host; transfers beyond it wait for a connection; 0: unlimited
  bool verify_tls = true;              // against the system CA store
  std::string ca_file;                 // PEM CA certificates to trust instead of the system store; empty: system
  // http:// upstreams go through the built-in HTTP/1.1 transport (plain_http1.h) unless a proxy
  // is configured in the environment; false sends everything through libcurl.
  bool plain_http1 = true;
};

struct HttpClientCounters {
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> completed{0};      // a response arrived whole
  std::atomic<uint64_t> failed{0};         // transport errors and timeouts
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> cancelled{0};
  std::atomic<uint64_t> paused{0};
  std::atomic<uint64_t> poll_errors{0};    // uv_poll reported an error; passed on to curl
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> sockets_opened{0};
};

class HttpClient {
 public:
  HttpClient(uv_loop_t* loop, HttpClientSettings settings = {});
  // Shuts down if shutdown() was not called, running the (idle) loop once for the close
  // callbacks; the loop's thread must not be running then.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a transfer for `owner`, capped by `deadline_ns` (monotonic, 0: none). On OUTRIGGER_OK
  // the sink's on_complete runs exactly once later unless cancel() runs first; on an error
  // nothing is ever called. Copies everything it is given.
  outrigger_status start(outrigger_request owner, uint64_t deadline_ns, const outrigger_http_request& request,
                         const outrigger_http_sink& sink, void* user_data, uint64_t* transfer_id);
  // Aborts a transfer now; no sink callback runs after this returns. OUTRIGGER_E_STALE when it
  // already completed, OUTRIGGER_E_INVALID when `owner` does not own it.
  outrigger_status cancel(outrigger_request owner, uint64_t transfer_id);
  // Undoes a sink's OUTRIGGER_PAUSE.
  outrigger_status resume(outrigger_request owner, uint64_t transfer_id);
  // The request ended: aborts its transfers, each completing with OUTRIGGER_HTTP_E_CANCELLED.
  void abortOwnedBy(outrigger_request owner);
  // `owner` no longer needs `transfer_id` kept for abortOwnedBy: it completed or was cancelled.
  // Keeps the list of an owner that lives long (a plugin instance, not a request) bounded.
  void forget(outrigger_request owner, uint64_t transfer_id);

  // Aborts everything (completing with E_CANCELLED), cleans up the multi handle, and closes
  // the timer and polls. The loop must run afterwards so the close callbacks free memory.
  void shutdown();

  size_t active() const;
  size_t openSockets() const;
  HttpClientCounters& counters() { return counters_; }

  struct Transfer;
  struct PollContext;

 private:
  static int onSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int onMultiTimer(CURLM* multi, long timeout_ms, void* userp);
  static void onUvTimer(uv_timer_t* timer);
  static void onPoll(uv_poll_t* poll, int status, int events);
  static curl_socket_t onOpenSocket(void* clientp, curlsocktype purpose, struct curl_sockaddr* address);
  static int onCloseSocket(void* clientp, curl_socket_t fd);
  static size_t onHeader(char* data, size_t size, size_t count, void* userp);
  static size_t onWrite(char* data, size_t size, size_t count, void* userp);
  static void onTransferTimer(uv_timer_t* timer);

  void socketAction(curl_socket_t fd, int events);
  void drainMessages();
  void runDeferred();
  void stopPoll(curl_socket_t fd);
  void watch(PollContext* p, int events);  // restarts the poll only when the events change
  void armTimer(Transfer* t);
  void timeoutFired(Transfer* t);
  // Takes `t` out of the multi, reports (unless cancelled) and frees it. Outside curl only.
  void finish(Transfer* t, CURLcode rc);
  void abort(Transfer* t, bool report);
  void destroy(Transfer* t);
  Transfer* find(outrigger_request owner, uint64_t id, outrigger_status* status);

  uv_loop_t* loop_;
  HttpClientSettings settings_;
  CURLM* multi_ = nullptr;
  uv_timer_t timer_;
  std::unordered_map<curl_socket_t, PollContext*> polls_;
  std::unordered_map<uint64_t, Transfer*> transfers_;
  // Transfer ids by the request that started them (both transports), until that request ends;
  // ids of transfers that finished earlier are skipped then.
  std::unordered_map<uint64_t, std::vector<uint64_t>> owned_;
  static uint64_t ownerKey(outrigger_request r) { return (uint64_t(r.slot) << 32) | r.generation; }
  std::unique_ptr<PlainHttp1> plain_;  // http:// without a proxy; null: libcurl carries everything
  std::vector<CURL*> spare_easy_;     // reset easy handles ready for reuse
  std::vector<Transfer*> deferred_;  // cancelled inside a curl callback; removed afterwards
  uint64_t next_id_ = 1;
  int in_curl_ = 0;                  // depth of calls into curl that may run our callbacks
  bool shutting_down_ = false;
  bool shut_down_ = false;
  HttpClientCounters counters_;
};

}  // namespace outrigger::http_client
