// One client connection on a worker: framing, the handshake, many multiplexed streams, and a
// bounded write queue. Frames produced during one loop iteration go out in one uv_write.
//
// Backpressure: above the high watermark of queued bytes, producers are paused and the socket
// is not read; below half of it they resume. A stream whose producer ignores the pause and
// pushes the queue past the hard limit is ended with RESOURCE_EXHAUSTED.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <outrigger/plugin.h>

#include "api/response_sink.h"
#include "chain/engine.h"
#include "ipc/frame_reader.h"
#include "ipc/frame_writer.h"

namespace outrigger::ipc {

struct ConnectionSettings {
  uint32_t max_frame_size = kDefaultMaxFrameSize;
  uint32_t max_concurrent_streams = 4096;
  uint64_t write_queue_high_water = 1u << 20;
  uint64_t write_queue_limit = 16u << 20;
  std::string server_version;
};

struct ConnectionCounters {
  uint64_t frames_in = 0;
  uint64_t protocol_errors = 0;
  uint64_t unknown_bodies = 0;
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
  Connection(ConnectionOwner& owner, uv_loop_t* loop, chain::Engine& engine, FrameWriter& writer,
             ConnectionSettings settings);
  ~Connection() override;

  // Takes ownership of a connected socket fd and starts reading.
  bool open(int fd);
  // Sends GoAway and refuses new streams from now on.
  void goAway(uint32_t drain_ms);
  // Ends every stream with `code` (the client is still there to hear it).
  void endAllStreams(Code code, std::string_view message);
  // Abandons all streams, flushes what is queued, then closes. Frees itself when closed.
  void close();
  // Like close, but does not wait for queued writes to drain (shutdown of a stuck client).
  void forceClose();

  void flush();
  size_t streamCount() const { return streams_.size(); }
  size_t queuedBytes() const { return out_.size() + inflight_bytes_; }

  // ResponseSink
  void onStart(uint64_t stream_id, const ResponseStartInfo& info) override;
  Flow onChunk(uint64_t stream_id, const ResponseChunkInfo& chunk) override;
  void onEnd(uint64_t stream_id, const ResponseEndInfo& end) override;

 private:
  struct WriteReq;
  static void onAlloc(uv_handle_t* h, size_t hint, uv_buf_t* buf);
  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void onWritten(uv_write_t* req, int status);
  void readFrames();
  void dispatch(const uint8_t* data, size_t size);
  void protocolError(Code code, const std::string& message);
  void endStream(uint64_t stream_id, Code code, std::string_view message, bool retryable = false);
  void handleHello(const void* hello);
  void handleRequest(uint64_t stream_id, const uint8_t* data, size_t size);
  static void onClosed(uv_handle_t* h);
  void afterWrite();
  void queued();

  ConnectionOwner& owner_;
  chain::Engine& engine_;
  FrameWriter& writer_;
  ConnectionSettings settings_;
  uv_pipe_t pipe_;
  FrameReader reader_;
  std::unordered_map<uint64_t, outrigger_request> streams_;
  std::vector<outrigger_request> paused_;
  std::string out_;
  size_t inflight_bytes_ = 0;
  uint64_t last_stream_id_ = 0;
  bool hello_done_ = false;
  bool going_away_ = false;
  bool closing_ = false;
  bool reading_ = false;
  bool flush_scheduled_ = false;
  int pending_writes_ = 0;
};

}  // namespace outrigger::ipc
