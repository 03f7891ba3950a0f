#include "ipc/connection.h"

#include <unistd.h>

#include "common/log.h"
#include "outrigger_generated.h"

namespace outrigger::ipc {

namespace w = outrigger::wire;

inline constexpr uint16_t kProtoMajor = 1;
inline constexpr uint16_t kProtoMinor = 0;
inline constexpr uint64_t kServerFeatures = static_cast<uint64_t>(w::Feature::Streaming) |
                                            static_cast<uint64_t>(w::Feature::Cancel) |
                                            static_cast<uint64_t>(w::Feature::Feedback) |
                                            static_cast<uint64_t>(w::Feature::GoAway);

struct Connection::WriteReq {
  uv_write_t req;
  std::string data;
  Connection* conn;
};

Connection::Connection(ConnectionOwner& owner, uv_loop_t* loop, chain::Engine& engine, FrameWriter& writer,
                       ConnectionSettings settings)
    : owner_(owner), engine_(engine), writer_(writer), settings_(std::move(settings)),
      reader_(settings_.max_frame_size) {
  uv_pipe_init(loop, &pipe_, 0);
  pipe_.data = this;
}

Connection::~Connection() = default;

bool Connection::open(int fd) {
  if (uv_pipe_open(&pipe_, fd) != 0) {
    ::close(fd);
    close();
    return false;
  }
  reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), &Connection::onAlloc, &Connection::onRead) == 0;
  return reading_;
}

void Connection::onAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(h->data);
  auto [p, n] = self->reader_.writableSpace();
  *buf = uv_buf_init(p, static_cast<unsigned>(n));
}

void Connection::onRead(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
  auto* self = static_cast<Connection*>(s->data);
  if (n < 0) {
    self->close();  // EOF or error: the client is gone; its streams are cancelled
    return;
  }
  self->reader_.commit(static_cast<size_t>(n));
  self->readFrames();
}

void Connection::readFrames() {
  while (!closing_) {
    const uint8_t* frame = nullptr;
    size_t size = 0;
    FrameReader::Next next = reader_.next(&frame, &size);
    if (next == FrameReader::Next::kNeedMore) break;
    if (next == FrameReader::Next::kTooLarge) {
      return protocolError(Code::kResourceExhausted,
                           "frame exceeds the negotiated maximum of " + std::to_string(reader_.maxFrameSize()) + " bytes");
    }
    if (next == FrameReader::Next::kTooSmall) return protocolError(Code::kInvalidArgument, "frame too short");
    dispatch(frame, size);
  }
  // Backpressure towards the client: stop reading while our output is over the watermark.
  if (!closing_ && reading_ && queuedBytes() > settings_.write_queue_high_water) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
    reading_ = false;
  }
}

void Connection::protocolError(Code code, const std::string& message) {
  ++owner_.counters().protocol_errors;
  ORLOG(LogLevel::kDebug, "ipc", "protocol error, closing connection: " + message);
  writer_.error(&out_, code, message, kProtoMajor, kProtoMajor);
  close();
}

void Connection::endStream(uint64_t stream_id, Code code, std::string_view message, bool retryable) {
  ResponseEndInfo end;
  end.code = code;
  end.message = message;
  end.retryable = retryable;
  end.origin = "server";
  writer_.responseEnd(&out_, stream_id, end);
  queued();
}

void Connection::dispatch(const uint8_t* data, size_t size) {
  ++owner_.counters().frames_in;
  auto verified = verifyFrame(data, size);
  if (!verified.ok()) return protocolError(Code::kInvalidArgument, verified.status().message());
  const w::Frame* frame = verified.value();
  uint64_t sid = frame->stream_id();
  w::Body type = frame->body_type();
  // The verifier accepts a union type whose value is missing; nothing below may assume a body.
  if (type != w::Body::NONE && !frame->body()) {
    if (sid == 0 || !hello_done_) return protocolError(Code::kInvalidArgument, "frame names a body type but carries no body");
    return endStream(sid, Code::kInvalidArgument, "frame names a body type but carries no body");
  }
  if (!hello_done_) {
    if (type != w::Body::Hello) return protocolError(Code::kFailedPrecondition, "the first frame must be Hello");
    return handleHello(frame->body_as_Hello());
  }
  switch (type) {
    case w::Body::Request:
      return handleRequest(sid, data, size);
    case w::Body::Cancel: {
      auto it = streams_.find(sid);
      if (it != streams_.end()) {
        const auto* c = frame->body_as_Cancel();
        std::string reason = c->reason() ? c->reason()->str() : "cancelled by client";
        engine_.cancel(it->second, Code::kCancelled, reason);
      }
      return;
    }
    case w::Body::Feedback: {
      if (sid == 0 || streams_.count(sid)) return protocolError(Code::kInvalidArgument, "bad stream id for Feedback");
      const auto* fb = frame->body_as_Feedback();
      if (!fb->trace_id() || fb->trace_id()->size() == 0) return endStream(sid, Code::kInvalidArgument, "feedback needs a trace_id");
      ORLOG(LogLevel::kDebug, "ipc", "feedback for trace " + fb->trace_id()->str() + " score " + std::to_string(fb->score()));
      return endStream(sid, Code::kOk, "");
    }
    case w::Body::Ping:
      writer_.pong(&out_, frame->body_as_Ping()->opaque());
      return queued();
    case w::Body::Hello:
      return protocolError(Code::kFailedPrecondition, "Hello sent twice");
    case w::Body::Pong:
    case w::Body::GoAway:
      return;  // liveness answers and client-side goaways need nothing from us
    default:
      // A newer client's message type, or a server-only frame sent by a client.
      ++owner_.counters().unknown_bodies;
      if (sid == 0) return;
      return endStream(sid, Code::kUnimplemented,
                       "frame body type " + std::to_string(static_cast<int>(type)) + " is not supported by this server");
  }
}

void Connection::handleHello(const void* p) {
  const auto* hello = static_cast<const w::Hello*>(p);
  if (hello->proto_major() != kProtoMajor) {
    ++owner_.counters().protocol_errors;
    writer_.error(&out_, Code::kFailedPrecondition,
                  "protocol major " + std::to_string(hello->proto_major()) + " is not supported; this server speaks " +
                      std::to_string(kProtoMajor) + "." + std::to_string(kProtoMinor),
                  kProtoMajor, kProtoMajor);
    return close();
  }
  hello_done_ = true;
  uint32_t max_frame = settings_.max_frame_size;
  if (hello->max_frame_size() >= 1024 && hello->max_frame_size() < max_frame) max_frame = hello->max_frame_size();
  reader_.setMaxFrameSize(settings_.max_frame_size);  // what we accept stays our own limit
  HelloAckInfo ack;
  ack.proto_major = kProtoMajor;
  ack.proto_minor = std::min<uint16_t>(kProtoMinor, hello->proto_minor());
  ack.server_version = settings_.server_version;
  ack.max_frame_size = max_frame;
  ack.max_concurrent_streams = settings_.max_concurrent_streams;
  ack.features = kServerFeatures & static_cast<uint64_t>(hello->features());
  ack.heartbeat_ms = 0;
  writer_.helloAck(&out_, ack);
  queued();
}

void Connection::handleRequest(uint64_t sid, const uint8_t* data, size_t size) {
  if (sid == 0) return protocolError(Code::kInvalidArgument, "Request on stream 0");
  if (streams_.count(sid)) return protocolError(Code::kInvalidArgument, "stream id " + std::to_string(sid) + " is already in use");
  if (going_away_) return endStream(sid, Code::kUnavailable, "server is shutting down; reconnect", true);
  if (streams_.size() >= settings_.max_concurrent_streams) {
    return endStream(sid, Code::kResourceExhausted, "too many concurrent streams on this connection", true);
  }
  if (sid > last_stream_id_) last_stream_id_ = sid;
  // The request's views point into its own aligned copy of the frame.
  chain::FrameBuffer copy = chain::FrameBuffer::copyOf(data, size);
  const auto* request = w::GetSizePrefixedFrame(copy.data())->body_as_Request();
  streams_[sid] = outrigger_request{0, 0};
  outrigger_request handle = engine_.start(std::move(copy), request, this, sid);
  if (auto it = streams_.find(sid); it != streams_.end()) it->second = handle;
}

void Connection::onStart(uint64_t stream_id, const ResponseStartInfo& info) {
  writer_.responseStart(&out_, stream_id, info);
  queued();
}

ResponseSink::Flow Connection::onChunk(uint64_t stream_id, const ResponseChunkInfo& chunk) {
  writer_.responseChunk(&out_, stream_id, chunk);
  queued();
  size_t q = queuedBytes();
  if (q > settings_.write_queue_limit) {
    // The producer ignored the pause. End the stream once this call has unwound.
    outrigger_request h = chunk.handle;
    chain::Engine* engine = &engine_;
    engine_.loop().post([engine, h] {
      engine->cancel(h, Code::kResourceExhausted, "client is not reading; write queue limit reached", "server");
    });
    return Flow::kPause;
  }
  if (q > settings_.write_queue_high_water) {
    paused_.push_back(chunk.handle);
    return Flow::kPause;
  }
  return Flow::kOk;
}

void Connection::onEnd(uint64_t stream_id, const ResponseEndInfo& end) {
  streams_.erase(stream_id);
  if (closing_) return;
  writer_.responseEnd(&out_, stream_id, end);
  queued();
}

void Connection::queued() {
  if (!flush_scheduled_ && !out_.empty()) {
    flush_scheduled_ = true;
    owner_.scheduleFlush(this);
  }
}

void Connection::flush() {
  flush_scheduled_ = false;
  if (out_.empty() || uv_is_closing(reinterpret_cast<uv_handle_t*>(&pipe_))) return;
  auto* wr = new WriteReq{{}, std::move(out_), this};
  out_.clear();
  inflight_bytes_ += wr->data.size();
  ++pending_writes_;
  uv_buf_t buf = uv_buf_init(wr->data.data(), static_cast<unsigned>(wr->data.size()));
  wr->req.data = wr;
  if (uv_write(&wr->req, reinterpret_cast<uv_stream_t*>(&pipe_), &buf, 1, &Connection::onWritten) != 0) {
    --pending_writes_;
    inflight_bytes_ -= wr->data.size();
    delete wr;
    close();
  }
}

void Connection::onWritten(uv_write_t* req, int status) {
  auto* wr = static_cast<WriteReq*>(req->data);
  Connection* self = wr->conn;
  self->inflight_bytes_ -= wr->data.size();
  --self->pending_writes_;
  delete wr;
  if (status < 0) {
    self->close();
  }
  self->afterWrite();
}

void Connection::afterWrite() {
  if (closing_) {
    if (pending_writes_ == 0 && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&pipe_))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), &Connection::onClosed);
    }
    return;
  }
  if (queuedBytes() <= settings_.write_queue_high_water / 2) {
    std::vector<outrigger_request> resume;
    resume.swap(paused_);
    for (outrigger_request h : resume) engine_.resume(h);
    if (!reading_) {
      reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), &Connection::onAlloc, &Connection::onRead) == 0;
      readFrames();  // frames already buffered while paused
    }
  }
}

void Connection::goAway(uint32_t drain_ms) {
  if (going_away_ || closing_) return;
  going_away_ = true;
  writer_.goAway(&out_, last_stream_id_, "server shutting down", drain_ms);
  queued();
}

void Connection::endAllStreams(Code code, std::string_view message) {
  std::vector<outrigger_request> handles;
  for (auto& [sid, h] : streams_) handles.push_back(h);
  for (outrigger_request h : handles) engine_.cancel(h, code, message, "server");
}

void Connection::forceClose() {
  close();
  // Writes a client never reads would hold the close forever; uv_close cancels them.
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&pipe_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), &Connection::onClosed);
  }
}

void Connection::onClosed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  c->owner_.connectionClosed(c);
  delete c;
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
  reading_ = false;
  // The client will not hear about these streams; they are cancelled so plugins stop work.
  std::vector<outrigger_request> handles;
  for (auto& [sid, h] : streams_) handles.push_back(h);
  streams_.clear();
  for (outrigger_request h : handles) engine_.abandon(h);
  flush();  // a final Error frame, if any, still goes out
  afterWrite();
}

}  // namespace outrigger::ipc
