// The OpenAI-compatible HTTP front of one worker: an h2o server context on the worker's own
// libuv loop, fed with connected sockets the main thread accepted. HTTP/1.1 with keep-alive and
// pipelining, and HTTP/2 cleartext (prior knowledge or Upgrade: h2c), parsed by h2o.
//
// Endpoints: POST /v1/chat/completions (and /chat/completions), GET /v1/models[/{id}];
// POST /v1/embeddings answers 501 until a provider can embed.
//
// Thread: everything runs on the worker's loop thread, except connections(), which any thread
// may read.
#pragma once

#include <h2o.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "chain/engine.h"
#include "config/config.h"
#include "http/http_metrics.h"

namespace outrigger::http {

class ChatExchange;

// Requests of one HTTP/2 connection run at once; its further streams wait for a slot.
inline constexpr size_t kHttp2RequestsPerConnection = 16;

class HttpFront {
 public:
  // Sets up the h2o context on `loop`; call before the loop runs or on its thread.
  HttpFront(uv_loop_t* loop, chain::Engine& engine, const config::HttpSettings& settings, HttpMetrics& metrics);
  ~HttpFront();
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  // Counts a connection about to be handed over, on the thread that admits it: the next
  // admission in the same burst sees it before the worker has run accept(). Every reservation
  // ends in accept() or in releaseReserved().
  void reserveConnection() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void releaseReserved() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  // Takes ownership of a connected socket (TCP, or a Unix socket when `is_unix`), reserved
  // before, and serves it.
  void accept(int fd, bool is_unix);
  // From now on new requests get 503 with `connection: close`; HTTP/2 peers get GOAWAY (h2o 2.2
  // leaves idle HTTP/1 connections open: their next request gets the 503).
  void drain();
  // Ends every in-flight request with `code`; the clients still hear about it.
  void endAll(Code code, std::string_view message);
  // Forgets every in-flight request without answering (the loop is about to stop).
  void abandonAll();

  size_t connections() const { return connections_.load(std::memory_order_relaxed); }
  bool draining() const { return draining_; }
  uv_loop_t* loop() const { return ctx_.loop; }
  chain::Engine& engine() { return engine_; }
  HttpMetrics& metrics() { return metrics_; }
  const config::HttpSettings& settings() const { return settings_; }

  // ChatExchange lifecycle.
  void exchangeDone(ChatExchange* ex);

 private:
  struct Handler;
  static int onRequest(h2o_handler_t* self, h2o_req_t* req);
  static void onSocketClosed(uv_handle_t* h);
  static void onAbortCheck(uv_timer_t* t);
  void shutDownStalledWrites();
  // Closes HTTP/2 connections whose request bodies take longer than header_timeout_ms.
  static void onHttp2Sweep(uv_timer_t* t);
  int route(h2o_req_t* req);
  // The two chat dialects share everything but the body shapes.
  // Embeddings run through the same path, with their own body and answer shapes.
  enum class Dialect { kOpenAi, kAnthropic, kEmbeddings, kResponses };
  void handleChat(h2o_req_t* req, std::string_view request_id, Dialect dialect);
  void handleModels(h2o_req_t* req, std::string_view id);
  void handleCountTokens(h2o_req_t* req, std::string tenant);
  // Who the caller is: its tenant from its virtual key (Authorization: Bearer, or Anthropic's
  // x-api-key), or the default tenant without one. An x-outrigger-tenant header is honoured only
  // with a key allowed to name that tenant. On refusal, the status (401/403) and why.
  struct Caller {
    std::string tenant;
    int refusal = 0;
    std::string why;
  };
  Caller identify(h2o_req_t* req) const;

  chain::Engine& engine_;
  config::HttpSettings settings_;
  HttpMetrics& metrics_;
  h2o_globalconf_t config_;
  h2o_context_t ctx_;
  h2o_accept_ctx_t accept_ctx_;
  uv_timer_t abort_timer_;
  uv_timer_t h2_sweep_;
  std::unordered_set<ChatExchange*> exchanges_;
  std::unordered_map<std::string, const config::VirtualKey*> keys_;
  std::atomic<size_t> connections_{0};
  uint64_t next_stream_id_ = 1;
  bool draining_ = false;
};

}  // namespace outrigger::http
