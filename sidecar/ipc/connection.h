// One client connection on a worker: framing, the handshake, many multiplexed streams, and a
// bounded write queue. Frames produced during one loop iteration go out in one uv_write.
//
// Backpressure: above the high watermark of queued bytes, producers are paused and the socket
// is not read; below half of it they resume. A stream whose producer ignores the pause and
// pushes the queue past the hard limit is ended with RESOURCE_EXHAUSTED; so is a unary answer
// that would take the queue past it (a short end in its place). A connection that takes none of
// its queued output for idle_timeout_ms is closed.
//
// Hostile peers: reads go into the worker's shared buffer and only a frame still arriving is
// kept (FrameReader), so an idle connection holds no read buffer. A connection that sends no
// Hello, leaves a frame half sent, or sits idle is closed by the worker's sweep
// (checkTimeouts). A bad request ends only its own stream; a connection-fatal error first ends
// every stream in flight with its own typed end, saying whether it reached a provider. A client
// that half-closes (shuts down its writing side) still gets the ends of its streams in flight.
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <outrigger/plugin.h>

#include "api/response_sink.h"
#include "chain/engine.h"
#include "ipc/admission.h"
#include "ipc/frame_reader.h"
#include "ipc/frame_writer.h"
#include "ipc/peer_policy.h"

namespace outrigger::ipc {

// The smallest max_frame_size a client may declare: room for any error end the server sends.
inline constexpr uint32_t kMinPeerFrameSize = 512;

struct ConnectionSettings {
  uint32_t max_frame_size = kDefaultMaxFrameSize;
  uint32_t max_concurrent_streams = 4096;
  uint64_t write_queue_high_water = 1u << 20;
  uint64_t write_queue_limit = 16u << 20;
  uint32_t handshake_timeout_ms = 5000;
  uint32_t idle_timeout_ms = 600000;  // 0: never
  uint32_t frame_timeout_ms = 30000;
  uint32_t heartbeat_ms = 5000;  // announced to the client, which Pings this often and gives up
                                 // on a connection silent for three intervals; 0: none
  std::string server_version;
  PartialFrameBudget* partial_budget = nullptr;  // process-wide; null: unbounded
  const PeerPolicy* peers = nullptr;             // null: requests keep the tenant they name
  ConnectionAdmission* admission = nullptr;      // released when the connection goes
};

// Read by the main thread for /metrics, written by the worker.
struct ConnectionCounters {
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> protocol_errors{0};   // connection-fatal: the connection was closed
  std::atomic<uint64_t> stream_errors{0};     // a bad request or id ended only its stream
  std::atomic<uint64_t> unknown_bodies{0};
  std::atomic<uint64_t> handshake_timeouts{0};
  std::atomic<uint64_t> frame_timeouts{0};
  std::atomic<uint64_t> idle_closes{0};
  std::atomic<uint64_t> memory_refusals{0};   // partial-frame budget exhausted
  std::atomic<uint64_t> tenant_refusals{0};   // a request named a tenant its peer may not use
  std::atomic<uint64_t> feedback{0};          // Feedback frames accepted (handed to the exporter queue)
  std::atomic<uint64_t> answers_dropped{0};   // unary answers replaced by RESOURCE_EXHAUSTED: the client did not read
};

class Connection;

// The worker that owns connections.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void scheduleFlush(Connection* c) = 0;
  virtual void connectionClosed(Connection* c) = 0;  // the connection is about to be freed
  virtual ConnectionCounters& counters() = 0;
};

class Connection : public ResponseSink {
 public:
  // A unary answer past write_queue_limit is refused once the client has taken no output for
  // this long, or at once past this many times the limit (a burst that finished together).
  static constexpr uint64_t kUnaryStallMs = 1000;
  static constexpr size_t kUnaryBurstLimits = 4;

  Connection(ConnectionOwner& owner, uv_loop_t* loop, chain::Engine& engine, FrameWriter& writer,
             const ConnectionSettings& settings);
  ~Connection() override;

  // Takes ownership of a connected socket fd (whose peer is `peer`) and starts reading.
  bool open(int fd, const PeerCredentials& peer = {});
  // Sends GoAway and refuses new streams from now on.
  void goAway(uint32_t drain_ms);
  // Ends every stream with `code` (the client is still there to hear it).
  void endAllStreams(Code code, std::string_view message);
  // Abandons all streams, flushes what is queued, then closes. Frees itself when closed.
  void close();
  // Like close, but does not wait for queued writes to drain (shutdown of a stuck client).
  void forceClose();
  // Closes the connection when a timeout has passed at `now_ms` (the loop's clock).
  void checkTimeouts(uint64_t now_ms);

  void flush();
  size_t streamCount() const { return streams_.size(); }
  // Output not yet written: what pauses the producers (a client that does not read).
  size_t unwrittenBytes() const { return out_.size() + inflight_bytes_; }
  // That plus what guardrails hold back of this connection's streams: what stops reading new
  // frames. Held bytes never pause a producer: a guardrail may need more chunks to release them.
  size_t queuedBytes() const { return unwrittenBytes() + held_bytes_; }

  // ResponseSink
  void onStart(uint64_t stream_id, const ResponseStartInfo& info) override;
  Flow onChunk(uint64_t stream_id, const ResponseChunkInfo& chunk) override;
  void onHeld(uint64_t stream_id, int64_t delta) override;
  void onEnd(uint64_t stream_id, const ResponseEndInfo& end) override;

 private:
  struct WriteReq;
  static void onAlloc(uv_handle_t* h, size_t hint, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void onWritten(uv_write_t* req, int status);
  static bool onFrame(void* self, const uint8_t* frame, size_t size);
  void received(const char* data, size_t size);
  void dispatch(const uint8_t* data, size_t size);
  // Connection-fatal: every stream in flight gets its typed end, then Error, then the close.
  void fail(Code code, const std::string& message);
  void endStream(uint64_t stream_id, Code code, std::string_view message, bool retryable = false);
  // A stream-level error: ends `stream_id` alone (an in-flight request with that id included).
  void refuseStream(uint64_t stream_id, Code code, const std::string& message);
  bool claimStreamId(uint64_t stream_id);
  // A frame of a kind that starts nothing (a body type this server does not take) on `stream_id`:
  // a request in flight there ends with the reason; a fresh id is used up by the end it gets; an
  // id already ended gets nothing more (its one end went out).
  void refuseFrame(uint64_t stream_id, Code code, const std::string& message);
  void handleHello(const void* hello);
  void handleRequest(uint64_t stream_id, const uint8_t* data, size_t size);
  // `feedback` is a verified wire::Feedback.
  void handleFeedback(uint64_t stream_id, const void* feedback);
  void writeChunkPieces(uint64_t stream_id, const ResponseChunkInfo& chunk);
  static void onClosed(uv_handle_t* h);
  void afterWrite();
  void queued();
  void stopReading();
  // The client sent end-of-file: true when it shut down only its writing side and still reads.
  bool peerStillReads();
  // How long output the kernel held back has waited without the client taking a byte of it;
  // 0 when nothing waits (what a loop iteration queued and has not flushed yet is no stall).
  uint64_t writeStalledMs(uint64_t now_ms);
  // Reads new frames again once what is queued and held is back under half the watermark.
  void resumeReading();

  ConnectionOwner& owner_;
  chain::Engine& engine_;
  FrameWriter& writer_;
  const ConnectionSettings& settings_;
  uv_pipe_t pipe_;
  FrameReader reader_;
  PeerCredentials peer_;
  PeerPolicy::Grant grant_;
  std::unordered_map<uint64_t, outrigger_request> streams_;
  std::vector<outrigger_request> paused_;
  std::string out_;
  size_t inflight_bytes_ = 0;
  size_t held_bytes_ = 0;  // held back by guardrails (ResponseSink::onHeld)
  uint64_t last_stream_id_ = 0;     // the highest id the client has used: ids only increase
  uint32_t peer_max_frame_ = kDefaultMaxFrameSize;  // the largest frame the client accepts
  uint64_t opened_ms_ = 0;
  uint64_t last_activity_ms_ = 0;   // last frame received or stream ended
  uint64_t frame_started_ms_ = 0;   // when the partial frame in the reader began
  uint64_t partial_serial_ = 0;
  uint64_t write_progress_ms_ = 0;  // when the client last took output from a write the kernel held back
  size_t write_left_seen_ = 0;      // libuv's write queue size then
  bool hello_done_ = false;
  bool going_away_ = false;
  bool closing_ = false;
  bool failing_ = false;            // ends written now are the fatal path's
  bool reading_ = false;
  bool peer_write_closed_ = false;  // end-of-file read: no more frames, answers still go out
  bool flush_scheduled_ = false;
  bool admitted_ = false;
  int pending_writes_ = 0;
};

}  // namespace outrigger::ipc
