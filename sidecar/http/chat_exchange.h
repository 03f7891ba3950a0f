// One chat completion (or embeddings call) over HTTP: the ResponseSink that turns the chain's
// start/chunk/end into the caller's dialect, unary JSON or server-sent events.
//
// Lifetime: created by HttpFront for a request; lives until both the h2o request is disposed and
// the chain has ended (or been abandoned). If the client goes away first, the chain request is
// abandoned at once so the provider stops. Everything runs on the worker's loop thread.
//
// Streaming and backpressure: h2o takes one buffer at a time and asks for more (proceed) when it
// has written it. Events produced meanwhile are appended to a pending buffer; above the front's
// high watermark the producer is paused, and resumed once the buffer drained.
#pragma once

#include <h2o.h>

#include <cstdint>
#include <string>

#include <outrigger/plugin.h>

#include "api/response_sink.h"
#include "http/chat_request.h"
#include "http/chat_response.h"
#include "http/response_encoder.h"

namespace outrigger::http {

class HttpFront;

class ChatExchange : public ResponseSink {
 public:
  ChatExchange(HttpFront& front, h2o_req_t* req, std::string request_id, std::string route_label);
  ~ChatExchange() override;

  // Starts the chain; `encoder` writes the answer in the caller's API dialect. The exchange may
  // already be finished (and deleted) when this returns.
  void start(ChatCall call, uint64_t stream_id, std::unique_ptr<ResponseEncoder> encoder);
  // Called by HttpFront when the client closed the connection while waiting.
  void clientGone();
  // Ends the chain request with `code` (the client is told, if it is still there).
  void cancel(Code code, std::string_view message);
  // Drops the chain request without answering.
  void abandon();
  // The h2o request, while it is alive.
  h2o_req_t* request() const { return req_; }
  bool waiting() const { return req_ && !engine_done_; }
  // Whether h2o has held a write of this exchange unsent since `since_ms` (loop time) or before,
  // and it was not given up already: its client stopped reading.
  bool writeHeldSince(uint64_t since_ms) const {
    return req_ && in_flight_ && !write_given_up_ && write_began_ms_ <= since_ms;
  }
  void giveUpWrite() { write_given_up_ = true; }
  // Whether anything of the answer was handed to h2o yet (its head included).
  bool wroteAny() const { return wrote_any_; }

  // ResponseSink
  void onStart(uint64_t stream_id, const ResponseStartInfo& info) override;
  Flow onChunk(uint64_t stream_id, const ResponseChunkInfo& chunk) override;
  void onEnd(uint64_t stream_id, const ResponseEndInfo& end) override;

 private:
  struct Generator;
  struct Guard;
  static void onProceed(h2o_generator_t* g, h2o_req_t* req);
  static void onStop(h2o_generator_t* g, h2o_req_t* req);
  static void onRequestDisposed(void* guard);

  // The most one write hands h2o (see flush()).
  static constexpr size_t kWriteSlice = 64 * 1024;

  void startStream();
  void queue(std::string text, bool final);
  void flush();
  void replyUnary(const ResponseEndInfo& end);
  void addCostHeader(const ResponseEndInfo& end);
  void replyError(const ResponseEndInfo& end);
  void sendWholeBody(int status, const char* reason, std::string body);
  void endStream(const ResponseEndInfo& end);
  void recordOutcome(int status);
  void maybeDelete();

  HttpFront& front_;
  h2o_req_t* req_;
  Generator* generator_ = nullptr;  // in the request's pool
  Guard* guard_ = nullptr;          // in the request's pool
  outrigger_request handle_{0, 0};
  std::string request_id_;
  std::string route_label_;
  std::unique_ptr<ResponseEncoder> encoder_;
  bool stream_ = false;
  bool engine_active_ = false;
  bool engine_done_ = false;
  bool headers_sent_ = false;
  bool stopped_ = false;         // h2o ended the response abruptly
  bool in_flight_ = false;       // h2o holds sending_
  bool final_queued_ = false;
  bool final_sent_ = false;
  bool cut_short_ = false;  // the final write ends the response broken, not complete
  bool paused_ = false;
  bool recorded_ = false;        // the outcome went into the metrics
  int depth_ = 0;                // entry points running; the exchange is freed only at 0
  int status_ = 0;
  uint64_t start_ns_ = 0;
  uint64_t write_began_ms_ = 0;  // loop time of the write in flight
  bool wrote_any_ = false;
  bool write_given_up_ = false;  // its connection was shut down for it
  std::string unary_text_;       // chunk text of a unary call, should the end carry none
  size_t pendingBytes() const { return pending_.size() - pending_at_; }

  std::string pending_;   // output not yet handed to h2o, from pending_at_ on
  size_t pending_at_ = 0;
  std::string sending_;
};

}  // namespace outrigger::http
