#include "http/chat_exchange.h"

#include <cstdio>
#include <ctime>

#include "common/clock.h"
#include "http/error_mapping.h"
#include "http/http_front.h"
#include "http/reply.h"

namespace outrigger::http {

namespace {

// The route's fallback_answer stood in for a failure (the chain names it "fallback/<route>").
bool isDegraded(std::string_view origin) { return origin.rfind("fallback/", 0) == 0; }

}  // namespace

struct ChatExchange::Generator {
  h2o_generator_t super;
  ChatExchange* self;
};

struct ChatExchange::Guard {
  ChatExchange* self;
};

namespace {

// Keeps an exchange alive while one of its entry points runs; the last one out may free it.
class Busy {
 public:
  explicit Busy(int* depth) : depth_(depth) { ++*depth_; }
  ~Busy() { --*depth_; }

 private:
  int* depth_;
};

}  // namespace

ChatExchange::ChatExchange(HttpFront& front, h2o_req_t* req, std::string request_id, std::string route_label)
    : front_(front), req_(req), request_id_(std::move(request_id)), route_label_(std::move(route_label)) {
  start_ns_ = monoNowNs();
  generator_ = static_cast<Generator*>(h2o_mem_alloc_pool(&req->pool, sizeof(Generator)));
  *generator_ = Generator{{&ChatExchange::onProceed, &ChatExchange::onStop}, this};
  guard_ = static_cast<Guard*>(h2o_mem_alloc_shared(&req->pool, sizeof(Guard), &ChatExchange::onRequestDisposed));
  guard_->self = this;
}

ChatExchange::~ChatExchange() = default;

void ChatExchange::start(ChatCall call, uint64_t stream_id, std::unique_ptr<ResponseEncoder> encoder) {
  stream_ = call.stream;
  encoder_ = std::move(encoder);
  {
    Busy busy(&depth_);
    engine_active_ = true;
    handle_ = front_.engine().start(std::move(call.frame), call.request, this, stream_id, std::move(call.embed), nullptr,
                                    call.route.empty() ? nullptr : &call.route);
  }
  maybeDelete();
}

void ChatExchange::clientGone() {
  {
    Busy busy(&depth_);
    if (!engine_done_) front_.metrics().clientAbort();
    abandon();
    recordOutcome(499);
    if (req_ && !headers_sent_) {
      // Nobody will read this; writing it makes h2o notice the closed socket and free the request.
      req_->http1_is_persistent = 0;
      status_ = 499;
      sendError(req_, 499, "Client Closed Request", "cancelled", "the client closed the connection");
      headers_sent_ = final_sent_ = true;
    } else if (req_ && !final_queued_) {
      // End the stream broken (no last chunk, or RST_STREAM): a client that only half-closed
      // still reads, and a cleanly ended stream would pass for the whole answer. The write
      // fails or ends the connection, and h2o frees the request.
      cut_short_ = true;
      pending_.clear();  // nobody reads the rest
      pending_at_ = 0;
      queue(std::string(), true);
    }
  }
  maybeDelete();
}

void ChatExchange::cancel(Code code, std::string_view message) {
  {
    Busy busy(&depth_);
    if (!engine_done_) front_.engine().cancel(handle_, code, message, "server");
  }
  maybeDelete();
}

void ChatExchange::abandon() {
  if (engine_done_) return;
  engine_done_ = true;
  front_.engine().abandon(handle_);
}

void ChatExchange::startStream() {
  if (headers_sent_ || !req_) return;
  headers_sent_ = true;
  status_ = 200;
  req_->res.status = 200;
  req_->res.reason = "OK";
  addHeader(req_, "content-type", "text/event-stream; charset=utf-8");
  addHeader(req_, "cache-control", "no-cache");
  h2o_start_response(req_, &generator_->super);
  queue(encoder_->streamOpen(), false);
}

void ChatExchange::onStart(uint64_t, const ResponseStartInfo& info) {
  Busy busy(&depth_);
  encoder_->setHead({info.model, info.system_fingerprint, info.service_tier, info.prompt_usage});
  if (stream_ && !headers_sent_ && req_ && isDegraded(info.provider)) addHeader(req_, "x-outrigger-degraded", "true");
  if (stream_) startStream();
}

ResponseSink::Flow ChatExchange::onChunk(uint64_t, const ResponseChunkInfo& chunk) {
  Busy busy(&depth_);
  handle_ = chunk.handle;  // chunks can come before Engine::start has returned the handle
  if (!stream_) {
    unary_text_.append(chunk.delta);
    return Flow::kOk;
  }
  startStream();
  queue(encoder_->streamChunk(chunk), false);
  if (pendingBytes() > front_.settings().write_buffer_high_water) {
    paused_ = true;
    return Flow::kPause;
  }
  return Flow::kOk;
}

void ChatExchange::onEnd(uint64_t, const ResponseEndInfo& end) {
  Busy busy(&depth_);
  engine_done_ = true;
  // Every chunk of a stream names the same model, so only an answer not yet started takes it.
  if (!headers_sent_) encoder_->setHead({end.model, end.system_fingerprint, end.service_tier, {}});
  if (!req_ || stopped_) return;
  if (headers_sent_) return endStream(end);
  if (end.code != Code::kOk) return replyError(end);
  if (!stream_) return replyUnary(end);
  // A stream that ended without a chunk (the chain streams a whole answer, tool calls included,
  // itself: RequestContext::streamWholeAnswer): send what text there is as one chunk.
  startStream();
  if (!end.content.empty()) {
    ResponseChunkInfo whole{0, end.content, nullptr, 0, handle_};
    whole.refusal = end.refusal;
    queue(encoder_->streamChunk(whole), false);
  }
  endStream(end);
}

void ChatExchange::replyUnary(const ResponseEndInfo& end) {
  status_ = 200;
  recordOutcome(200);
  if (isDegraded(end.origin)) {
    addHeader(req_, "x-outrigger-degraded", "true");
    addHeader(req_, "x-outrigger-origin", end.origin);
  }
  addCostHeader(end);
  sendWholeBody(200, "OK", encoder_->unary(end, unary_text_));
}

void ChatExchange::replyError(const ResponseEndInfo& end) {
  HttpError e = httpErrorFor(end.code);
  status_ = e.status;
  addHeader(req_, "x-should-retry", shouldRetryHeader(end));
  // A time to retry after only where a retry may succeed: an answer past max_answer_bytes is a
  // 429 too, and one more try would generate it all again.
  if (end.retry_after_ms || (end.retryable && (e.status == 429 || e.status == 503))) {
    uint32_t ms = end.retry_after_ms ? end.retry_after_ms : 1000;
    addHeader(req_, "retry-after", std::to_string(retryAfterSeconds(ms)));
    addHeader(req_, "retry-after-ms", std::to_string(ms));
  }
  if (!end.origin.empty()) addHeader(req_, "x-outrigger-origin", end.origin);
  if (end.cost_usd > 0) addCostHeader(end);  // answered upstream, then refused (an output guardrail)
  recordOutcome(e.status);
  sendWholeBody(e.status, e.reason.data(), encoder_->errorBody(end, e));
}

// A whole answer (unary, embeddings, an error) goes out through the exchange's own generator, in
// slices as a stream does, so the write timeout covers it too: a client that never reads its
// answer gives its connection up as one that stops reading a stream does.
void ChatExchange::sendWholeBody(int status, const char* reason, std::string body) {
  headers_sent_ = true;
  req_->res.status = status;
  req_->res.reason = reason;
  req_->res.content_length = body.size();
  addHeader(req_, "content-type", "application/json");
  h2o_start_response(req_, &generator_->super);
  queue(std::move(body), true);
}

// What the request cost in USD (all its attempts); a stream's headers go out before it is known.
void ChatExchange::addCostHeader(const ResponseEndInfo& end) {
  char usd[32];
  std::snprintf(usd, sizeof usd, "%.9g", end.cost_usd);
  addHeader(req_, "x-outrigger-cost-usd", usd);
}

void ChatExchange::endStream(const ResponseEndInfo& end) {
  if (end.code != Code::kOk) {
    // The status line already said 200: the failure travels as an SSE error event, without [DONE].
    HttpError e = httpErrorFor(end.code);
    front_.metrics().streamError();
    recordOutcome(e.status);
    return queue(encoder_->streamError(end, e), true);
  }
  recordOutcome(200);
  queue(encoder_->streamClose(end), true);
}

void ChatExchange::recordOutcome(int status) {
  if (recorded_) return;
  recorded_ = true;
  double seconds = static_cast<double>(monoNowNs() - start_ns_) / 1e9;
  front_.metrics().record(encoder_ ? encoder_->endpoint() : "chat_completions", route_label_, status, seconds);
}

void ChatExchange::queue(std::string text, bool final) {
  if (pending_.empty()) pending_ = std::move(text);
  else pending_ += text;
  if (final) final_queued_ = true;
  flush();
}

void ChatExchange::flush() {
  if (!req_ || stopped_ || in_flight_ || final_sent_) return;
  if (pending_.empty() && !final_queued_) return;
  // At most one slice per write: h2o asks for more only once a write is wholly sent, and the
  // write timeout measures one write, so a client that reads slowly but reads is never taken
  // for one that stopped.
  if (pendingBytes() > kWriteSlice) {
    sending_.assign(pending_, pending_at_, kWriteSlice);
    pending_at_ += kWriteSlice;
    // What went out is dropped from the front once it is half the buffer, so a large whole answer
    // is copied a bounded number of times rather than once per slice.
    if (pending_at_ >= pending_.size() / 2) {
      pending_.erase(0, pending_at_);
      pending_at_ = 0;
    }
  } else if (pending_at_ > 0) {
    sending_.assign(pending_, pending_at_);
    pending_.clear();
    pending_at_ = 0;
  } else {
    sending_.swap(pending_);
    pending_.clear();
  }
  in_flight_ = true;
  wrote_any_ = true;
  write_began_ms_ = uv_now(front_.loop());
  bool final = final_queued_ && pending_.empty();
  if (final) final_sent_ = true;
  h2o_iovec_t buf = h2o_iovec_init(sending_.data(), sending_.size());
  h2o_send(req_, &buf, 1, !final ? H2O_SEND_STATE_IN_PROGRESS : cut_short_ ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
}

void ChatExchange::onProceed(h2o_generator_t* g, h2o_req_t*) {
  ChatExchange* self = reinterpret_cast<Generator*>(g)->self;
  if (!self) return;
  {
    Busy busy(&self->depth_);
    self->in_flight_ = false;
    self->sending_.clear();
    self->flush();
    if (self->paused_ && self->pendingBytes() <= self->front_.settings().write_buffer_high_water / 2) {
      self->paused_ = false;
      if (!self->engine_done_) self->front_.engine().resume(self->handle_);
    }
  }
  self->maybeDelete();
}

void ChatExchange::onStop(h2o_generator_t* g, h2o_req_t*) {
  ChatExchange* self = reinterpret_cast<Generator*>(g)->self;
  if (!self) return;
  {
    Busy busy(&self->depth_);
    self->stopped_ = true;
    if (!self->engine_done_) self->front_.metrics().clientAbort();
    self->abandon();
    self->recordOutcome(499);
  }
  self->maybeDelete();
}

void ChatExchange::onRequestDisposed(void* p) {
  ChatExchange* self = static_cast<Guard*>(p)->self;
  if (!self) return;
  {
    Busy busy(&self->depth_);
    self->req_ = nullptr;
    self->generator_->self = nullptr;
    if (!self->engine_done_) self->front_.metrics().clientAbort();
    self->recordOutcome(499);
    self->abandon();
  }
  self->maybeDelete();
}

void ChatExchange::maybeDelete() {
  if (depth_ == 0 && !req_ && engine_done_) front_.exchangeDone(this);
}

}  // namespace outrigger::http
