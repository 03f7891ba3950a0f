#include "ipc/connection.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "common/log.h"
#include "common/rate_limited_log.h"
#include "ipc/feedback.h"
#include "ipc/request_checks.h"
#include "outrigger_generated.h"

namespace outrigger::ipc {

namespace w = outrigger::wire;

inline constexpr uint16_t kProtoMajor = 1;
inline constexpr uint16_t kProtoMinor = 0;
inline constexpr uint64_t kServerFeatures = static_cast<uint64_t>(w::Feature::Streaming) |
                                            static_cast<uint64_t>(w::Feature::Cancel) |
                                            static_cast<uint64_t>(w::Feature::Feedback) |
                                            static_cast<uint64_t>(w::Feature::GoAway);
// Reads of every connection on a worker land here; a connection keeps only a partial frame.
inline constexpr size_t kReadBufferBytes = 64 * 1024;

namespace {

char* sharedReadBuffer() {
  thread_local std::unique_ptr<uint64_t[]> buffer(new uint64_t[kReadBufferBytes / 8]);
  return reinterpret_cast<char*>(buffer.get());
}

RateLimitedLog& refusalLog() {
  static RateLimitedLog log;
  return log;
}

}  // namespace

struct Connection::WriteReq {
  uv_write_t req;
  std::string data;
  Connection* conn;
};

Connection::Connection(ConnectionOwner& owner, uv_loop_t* loop, chain::Engine& engine, FrameWriter& writer,
                       const ConnectionSettings& settings)
    : owner_(owner), engine_(engine), writer_(writer), settings_(settings),
      reader_(settings_.max_frame_size, settings_.partial_budget) {
  uv_pipe_init(loop, &pipe_, 0);
  pipe_.data = this;
  opened_ms_ = last_activity_ms_ = uv_now(loop);
}

Connection::~Connection() {
  if (admitted_ && settings_.admission) settings_.admission->release(peer_.uid);
}

bool Connection::open(int fd, const PeerCredentials& peer) {
  peer_ = peer;
  admitted_ = settings_.admission != nullptr;  // the daemon admitted it by uid before handing it over
  if (settings_.peers) grant_ = settings_.peers->grantFor(peer_);
  if (uv_pipe_open(&pipe_, fd) != 0) {
    ::close(fd);
    close();
    return false;
  }
  reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), &Connection::onAlloc, &Connection::onRead) == 0;
  return reading_;
}

void Connection::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(sharedReadBuffer(), static_cast<unsigned>(kReadBufferBytes));
}

void Connection::onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(s->data);
  if (n == UV_EOF && !self->closing_ && self->hello_done_ && !self->streams_.empty() && self->peerStillReads()) {
    // A half-close: no more frames, but the client waits for the ends of its streams. Each still
    // ends by its deadline, and a client that stops reading meets the write-stall check.
    self->stopReading();
    self->peer_write_closed_ = true;
    return;
  }
  if (n < 0) {
    self->close();  // EOF or error: the client is gone; its streams are cancelled
    return;
  }
  if (n > 0) self->received(buf->base, static_cast<size_t>(n));
}

bool Connection::onFrame(void* self, const uint8_t* frame, size_t size) {
  auto* c = static_cast<Connection*>(self);
  c->dispatch(frame, size);
  return !c->closing_;
}

void Connection::received(const char* data, size_t size) {
  if (closing_) return;
  uint64_t now = uv_now(pipe_.loop);
  FrameReader::Result r = reader_.feed(data, size, &Connection::onFrame, this);
  switch (r) {
    case FrameReader::Result::kOk:
    case FrameReader::Result::kStopped:
      break;
    case FrameReader::Result::kTooLarge:
      return fail(Code::kResourceExhausted,
                  "frame exceeds the negotiated maximum of " + std::to_string(reader_.maxFrameSize()) + " bytes");
    case FrameReader::Result::kTooSmall:
      return fail(Code::kInvalidArgument, "frame too short");
    case FrameReader::Result::kNoMemory:
      ++owner_.counters().memory_refusals;
      return fail(Code::kResourceExhausted, "the server holds too much of other clients' partly received frames; retry");
  }
  if (reader_.partialSerial() != partial_serial_) {
    partial_serial_ = reader_.partialSerial();
    frame_started_ms_ = now;
  }
  // Backpressure towards the client: stop reading while our output is over the watermark.
  if (!closing_ && reading_ && queuedBytes() > settings_.write_queue_high_water) stopReading();
}

void Connection::stopReading() {
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
  reading_ = false;
}

bool Connection::peerStillReads() {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&pipe_), &fd) != 0) return false;
  // A peer that closed its socket shows as a hang-up; one that shut down only its writing side
  // does not.
  pollfd p{fd, 0, 0};
  return ::poll(&p, 1, 0) == 0 || !(p.revents & (POLLHUP | POLLERR));
}

uint64_t Connection::writeStalledMs(uint64_t now_ms) {
  if (pending_writes_ == 0) return 0;
  // libuv's count of bytes still to write shrinks as a reading client takes them, before the
  // write request completes.
  size_t left = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&pipe_));
  if (left != write_left_seen_) {
    write_left_seen_ = left;
    write_progress_ms_ = now_ms;
  }
  return now_ms - write_progress_ms_;
}

void Connection::checkTimeouts(uint64_t now_ms) {
  // A client that takes none of its output would hold it, and the connection (closing or not),
  // forever. Nothing more can reach it, so the queued writes are dropped.
  if (settings_.idle_timeout_ms && writeStalledMs(now_ms) >= settings_.idle_timeout_ms &&
      !uv_is_closing(reinterpret_cast<uv_handle_t*>(&pipe_))) {
    ++owner_.counters().idle_closes;
    ORLOG(LogLevel::kDebug, "ipc", "closing connection of " + peer_.describe() + ": it reads none of its answers");
    return forceClose();
  }
  if (closing_) return;
  if (!hello_done_ && now_ms - opened_ms_ >= settings_.handshake_timeout_ms) {
    ++owner_.counters().handshake_timeouts;
    return fail(Code::kDeadlineExceeded, "no Hello within " + std::to_string(settings_.handshake_timeout_ms) + " ms");
  }
  // Paused reading leaves a frame incomplete through no fault of the client.
  if (reader_.midFrame() && reading_ && now_ms - frame_started_ms_ >= settings_.frame_timeout_ms) {
    ++owner_.counters().frame_timeouts;
    return fail(Code::kDeadlineExceeded,
                "a frame was not completed within " + std::to_string(settings_.frame_timeout_ms) + " ms");
  }
  if (peer_write_closed_ && !peerStillReads()) return close();  // the half-closed client went away
  if (hello_done_ && settings_.idle_timeout_ms && streams_.empty() && !reader_.midFrame() && queuedBytes() == 0 &&
      now_ms - last_activity_ms_ >= settings_.idle_timeout_ms) {
    ++owner_.counters().idle_closes;
    writer_.goAway(&out_, last_stream_id_, "idle connection closed", 0);
    close();
  }
}

void Connection::fail(Code code, const std::string& message) {
  if (closing_) return;
  ++owner_.counters().protocol_errors;
  ORLOG(LogLevel::kDebug, "ipc", "closing connection of " + peer_.describe() + ": " + message);
  // Each stream hears why its call ended, and whether a retry could run it twice.
  failing_ = true;
  endAllStreams(Code::kUnavailable, "connection closed by the server: " + message);
  failing_ = false;
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

void Connection::refuseStream(uint64_t stream_id, Code code, const std::string& message) {
  ++owner_.counters().stream_errors;
  auto it = streams_.find(stream_id);
  if (it != streams_.end()) {
    // One end per stream: the request already running on this id is the one that ends.
    engine_.cancel(it->second, code, message, "server");
    return;
  }
  endStream(stream_id, code, message);
}

void Connection::refuseFrame(uint64_t stream_id, Code code, const std::string& message) {
  if (!streams_.count(stream_id) && stream_id <= last_stream_id_) {  // ended: its one end went out
    ++owner_.counters().stream_errors;
    return;
  }
  last_stream_id_ = std::max(last_stream_id_, stream_id);
  refuseStream(stream_id, code, message);
}

// Stream ids only increase on a connection, so an id at or below the highest seen is either in
// flight or finished: both are refused.
bool Connection::claimStreamId(uint64_t sid) {
  if (sid <= last_stream_id_) {
    refuseStream(sid, Code::kInvalidArgument,
                 streams_.count(sid) ? "stream id " + std::to_string(sid) + " is already in use; ids must increase"
                                     : "stream id " + std::to_string(sid) + " was already used on this connection; ids must increase");
    return false;
  }
  last_stream_id_ = sid;
  return true;
}

void Connection::dispatch(const uint8_t* data, size_t size) {
  ++owner_.counters().frames_in;
  last_activity_ms_ = uv_now(pipe_.loop);
  auto verified = verifyFrame(data, size);
  if (!verified.ok()) {
    // A frame whose own table is sound but whose body is not costs only its stream.
    uint64_t sid = hello_done_ ? streamIdOfUnverifiedFrame(data, size) : 0;
    if (sid == 0) return fail(Code::kInvalidArgument, verified.status().message());
    if (claimStreamId(sid)) refuseStream(sid, Code::kInvalidArgument, "frame failed FlatBuffers verification");
    return;
  }
  const w::Frame* frame = verified.value();
  uint64_t sid = frame->stream_id();
  w::Body type = frame->body_type();
  // The verifier accepts a union type whose value is missing; nothing below may assume a body.
  if (type != w::Body::NONE && !frame->body()) {
    if (sid == 0 || !hello_done_) return fail(Code::kInvalidArgument, "frame names a body type but carries no body");
    if (type == w::Body::Request || type == w::Body::Feedback) {
      if (claimStreamId(sid)) refuseStream(sid, Code::kInvalidArgument, "frame names a body type but carries no body");
      return;
    }
    return refuseFrame(sid, Code::kInvalidArgument, "frame names a body type but carries no body");
  }
  if (!hello_done_) {
    if (type != w::Body::Hello) return fail(Code::kFailedPrecondition, "the first frame must be Hello");
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
      if (sid == 0) return fail(Code::kInvalidArgument, "Feedback on stream 0");
      if (!claimStreamId(sid)) return;
      return handleFeedback(sid, frame->body_as_Feedback());
    }
    case w::Body::Ping:
      writer_.pong(&out_, frame->body_as_Ping()->opaque());
      return queued();
    case w::Body::Hello:
      return fail(Code::kFailedPrecondition, "Hello sent twice");
    case w::Body::Pong:
    case w::Body::GoAway:
      return;  // liveness answers and client-side goaways need nothing from us
    default:
      // A newer client's message type, or a server-only frame sent by a client.
      ++owner_.counters().unknown_bodies;
      if (sid == 0) return;
      return refuseFrame(sid, Code::kUnimplemented,
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
  if (hello->max_frame_size() < kMinPeerFrameSize) {
    return fail(Code::kFailedPrecondition, "max_frame_size " + std::to_string(hello->max_frame_size()) +
                                               " is below the protocol minimum of " + std::to_string(kMinPeerFrameSize));
  }
  hello_done_ = true;
  peer_max_frame_ = std::min(settings_.max_frame_size, hello->max_frame_size());
  reader_.setMaxFrameSize(settings_.max_frame_size);  // what we accept stays our own limit
  HelloAckInfo ack;
  ack.proto_major = kProtoMajor;
  ack.proto_minor = std::min<uint16_t>(kProtoMinor, hello->proto_minor());
  ack.server_version = settings_.server_version;
  ack.max_frame_size = peer_max_frame_;
  ack.max_concurrent_streams = settings_.max_concurrent_streams;
  ack.features = kServerFeatures & static_cast<uint64_t>(hello->features());
  ack.heartbeat_ms = settings_.heartbeat_ms;
  writer_.helloAck(&out_, ack);
  queued();
}

void Connection::handleRequest(uint64_t sid, const uint8_t* data, size_t size) {
  if (sid == 0) return fail(Code::kInvalidArgument, "Request on stream 0");
  if (!claimStreamId(sid)) return;
  if (going_away_) return endStream(sid, Code::kUnavailable, "server is shutting down; reconnect", true);
  if (streams_.size() >= settings_.max_concurrent_streams) {
    return endStream(sid, Code::kResourceExhausted, "too many concurrent streams on this connection", true);
  }
  // The request's views point into its own aligned copy of the frame.
  chain::FrameBuffer copy = chain::FrameBuffer::copyOf(data, size);
  const auto* request = w::GetSizePrefixedFrame(copy.data())->body_as_Request();
  if (Status s = checkRequestStrings(*request, size); !s.isOk()) {
    ++owner_.counters().stream_errors;
    return endStream(sid, s.code(), s.message());
  }
  const w::Metadata* md = request->metadata();
  std::string_view claimed = md && md->tenant() ? md->tenant()->string_view() : std::string_view();
  std::optional<std::string> substitute;
  if (settings_.peers) {
    if (Status s = settings_.peers->checkTenant(grant_, peer_, claimed, &substitute); !s.isOk()) {
      ++owner_.counters().tenant_refusals;
      refusalLog().write(LogLevel::kWarn, "ipc", "refused a request: " + s.message());
      return endStream(sid, s.code(), s.message());
    }
  }
  streams_[sid] = outrigger_request{0, 0};
  outrigger_request handle =
      engine_.start(std::move(copy), request, this, sid, nullptr, substitute ? &*substitute : nullptr);
  if (auto it = streams_.find(sid); it != streams_.end()) it->second = handle;
}

// Feedback goes to the exporters through the exporter thread's bounded queue; a full queue drops
// it (counted there) and the client still hears OK: feedback is telemetry, never worth a retry
// that would add load when the exporters are already behind.
void Connection::handleFeedback(uint64_t sid, const void* p) {
  const auto* fb = static_cast<const w::Feedback*>(p);
  if (Status s = checkFeedbackStrings(*fb); !s.isOk()) {
    ++owner_.counters().stream_errors;
    return endStream(sid, s.code(), s.message());
  }
  const w::Metadata* md = fb->metadata();
  std::string_view claimed = md && md->tenant() ? md->tenant()->string_view() : std::string_view();
  std::optional<std::string> substitute;
  if (settings_.peers) {
    if (Status s = settings_.peers->checkTenant(grant_, peer_, claimed, &substitute); !s.isOk()) {
      ++owner_.counters().tenant_refusals;
      return endStream(sid, s.code(), s.message());
    }
  }
  if (telemetry::ExporterThread* exporter = engine_.exporter()) {
    auto record = feedbackRecordOf(*fb, substitute ? &*substitute : nullptr);
    record->chain = engine_.chain();
    exporter->submitFeedback(std::move(record));
  }
  ++owner_.counters().feedback;
  endStream(sid, Code::kOk, "");
}

void Connection::onStart(uint64_t stream_id, const ResponseStartInfo& info) {
  writer_.responseStart(&out_, stream_id, info);
  queued();
}

ResponseSink::Flow Connection::onChunk(uint64_t stream_id, const ResponseChunkInfo& chunk) {
  size_t before = out_.size();
  writer_.responseChunk(&out_, stream_id, chunk);
  if (out_.size() - before > size_t{peer_max_frame_} + 4) {
    out_.resize(before);  // larger than the client accepts: the same bytes in smaller chunks
    writeChunkPieces(stream_id, chunk);
  }
  queued();
  // Output only: held bytes here paused every stream of a connection whose guardrails held more
  // than the watermark between them, and none could then release (no chunk came to release on).
  size_t q = unwrittenBytes();
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

void Connection::onHeld(uint64_t, int64_t delta) {
  held_bytes_ = delta < 0 && size_t(-delta) > held_bytes_ ? 0 : size_t(int64_t(held_bytes_) + delta);
  if (!closing_ && reading_ && queuedBytes() > settings_.write_queue_high_water) stopReading();
  if (delta < 0) resumeReading();  // a stream's held bytes went (dropped at its end, or released)
}

void Connection::writeChunkPieces(uint64_t stream_id, const ResponseChunkInfo& chunk) {
  size_t budget = peer_max_frame_ - kMinPeerFrameSize / 2;  // room for the frame's own fields
  ResponseChunkInfo piece = chunk;
  piece.tool_calls = nullptr;
  piece.tool_call_count = 0;
  for (std::string_view rest = chunk.delta; !rest.empty();) {
    piece.delta = utf8Prefix(rest, budget);
    rest.remove_prefix(piece.delta.size());
    writer_.responseChunk(&out_, stream_id, piece);
  }
  piece.delta = {};
  for (size_t i = 0; i < chunk.tool_call_count; ++i) {
    ToolCallDelta call = chunk.tool_calls[i];
    std::string_view args = call.arguments;
    size_t named = call.id.size() + call.type.size() + call.name.size();
    size_t room = budget > named ? budget - named : 1;
    do {  // the first piece carries the id, type and name; the rest only add arguments
      call.arguments = utf8Prefix(args, room);
      args.remove_prefix(call.arguments.size());
      piece.tool_calls = &call;
      piece.tool_call_count = 1;
      writer_.responseChunk(&out_, stream_id, piece);
      call.id = call.type = call.name = {};
    } while (!args.empty());
  }
}

void Connection::onEnd(uint64_t stream_id, const ResponseEndInfo& end) {
  streams_.erase(stream_id);
  last_activity_ms_ = uv_now(pipe_.loop);
  if (closing_) return;
  size_t before = out_.size();
  writer_.responseEnd(&out_, stream_id, end);
  bool too_large = out_.size() - before > size_t{peer_max_frame_} + 4;
  // Unary answers of a client that does not read would pile up without bound (streams are ended
  // in onChunk): past the limit, the answer's place goes to a short end saying why, once the
  // client has taken nothing for kUnaryStallMs. A client that reads may get a burst of answers
  // past the limit (they finished together), up to kUnaryBurstLimits times it.
  size_t unwritten = unwrittenBytes();
  bool over_limit = !failing_ && unwritten > settings_.write_queue_limit && unwritten > out_.size() - before &&
                    (writeStalledMs(uv_now(pipe_.loop)) >= kUnaryStallMs ||
                     unwritten > kUnaryBurstLimits * settings_.write_queue_limit);
  if (too_large || over_limit) {
    // Recorded as answered by the chain: this is where the answer is lost, so it is counted here.
    if (over_limit) ++owner_.counters().answers_dropped;
    out_.resize(before);
    ResponseEndInfo refused;
    refused.code = Code::kResourceExhausted;
    refused.origin = "server";
    std::string message = too_large ? "the answer does not fit in " + std::to_string(peer_max_frame_) +
                                          " bytes, the largest frame this client accepts; stream it or accept larger frames"
                                    : "client is not reading its answers; write queue limit reached";
    refused.message = message;
    refused.trace_id = end.trace_id;
    refused.reached_provider = end.reached_provider;
    writer_.responseEnd(&out_, stream_id, refused);
  }
  queued();
  if (peer_write_closed_ && streams_.empty() && !failing_) close();  // its last answer is out
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
  // Most answers fit in the socket buffer: written at once, they need no write request, and
  // libuv neither watches the socket for writability nor changes its epoll registration (an
  // epoll_ctl per answer through uv_write). What is left goes through uv_write, in order.
  uv_buf_t whole = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
  int sent = pending_writes_ == 0 ? uv_try_write(reinterpret_cast<uv_stream_t*>(&pipe_), &whole, 1) : UV_EAGAIN;
  if (sent == static_cast<int>(out_.size())) {
    out_ = std::string();  // an idle connection holds no output buffer
    if (!closing_ && (!reading_ || !paused_.empty())) afterWrite();  // may resume what backpressure held
    return;
  }
  if (sent > 0) out_.erase(0, static_cast<size_t>(sent));
  else if (sent != UV_EAGAIN) return close();
  auto* wr = new WriteReq{{}, std::move(out_), this};
  out_ = std::string();  // a moved-from string may keep its capacity: an idle connection holds none
  bool first = pending_writes_ == 0;
  uint64_t now = uv_now(pipe_.loop);
  if (!first) writeStalledMs(now);  // what the client took before these bytes join the queue
  inflight_bytes_ += wr->data.size();
  ++pending_writes_;
  uv_buf_t buf = uv_buf_init(wr->data.data(), static_cast<unsigned>(wr->data.size()));
  wr->req.data = wr;
  if (uv_write(&wr->req, reinterpret_cast<uv_stream_t*>(&pipe_), &buf, 1, &Connection::onWritten) != 0) {
    --pending_writes_;
    inflight_bytes_ -= wr->data.size();
    delete wr;
    return close();
  }
  // New output is no progress: only the queue shrinking from here on is.
  if (first) write_progress_ms_ = now;  // the kernel held these bytes back: the stall clock starts
  write_left_seen_ = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&pipe_));
}

void Connection::onWritten(uv_write_t* req, int status) {
  auto* wr = static_cast<WriteReq*>(req->data);
  Connection* self = wr->conn;
  self->inflight_bytes_ -= wr->data.size();
  --self->pending_writes_;
  delete wr;
  self->write_progress_ms_ = uv_now(self->pipe_.loop);  // the client took these bytes
  self->write_left_seen_ = uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&self->pipe_));
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
  if (unwrittenBytes() <= settings_.write_queue_high_water / 2) {
    std::vector<outrigger_request> resume;
    resume.swap(paused_);
    for (outrigger_request h : resume) engine_.resume(h);
  }
  resumeReading();
}

void Connection::resumeReading() {
  if (reading_ || closing_ || peer_write_closed_ || queuedBytes() > settings_.write_queue_high_water / 2) return;
  reading_ = uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), &Connection::onAlloc, &Connection::onRead) == 0;
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
  if (reading_) stopReading();
  // The client will not hear about these streams; they are cancelled so plugins stop work.
  std::vector<outrigger_request> handles;
  for (auto& [sid, h] : streams_) handles.push_back(h);
  streams_.clear();
  for (outrigger_request h : handles) engine_.abandon(h);
  flush();  // a final Error frame, if any, still goes out
  afterWrite();
}

}  // namespace outrigger::ipc
