// Encodes outbound frames into a connection's output buffer. One FlatBufferBuilder per worker
// is reused for every frame, so encoding allocates only when a frame outgrows it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <flatbuffers/flatbuffers.h>

#include "api/response_sink.h"

namespace outrigger::ipc {

struct HelloAckInfo {
  uint16_t proto_major = 1;
  uint16_t proto_minor = 0;
  std::string_view server_version;
  uint32_t max_frame_size = 0;
  uint32_t max_concurrent_streams = 0;
  uint64_t features = 0;
  uint32_t heartbeat_ms = 0;
};

class FrameWriter {
 public:
  FrameWriter() : builder_(4096) {}

  void helloAck(std::string* out, const HelloAckInfo& info);
  void error(std::string* out, Code code, std::string_view message, uint16_t major_min = 1,
             uint16_t major_max = 1);
  void pong(std::string* out, uint64_t opaque);
  void goAway(std::string* out, uint64_t last_stream_id, std::string_view reason, uint32_t drain_ms);
  void responseStart(std::string* out, uint64_t stream_id, const ResponseStartInfo& info);
  void responseChunk(std::string* out, uint64_t stream_id, const ResponseChunkInfo& chunk);
  void responseEnd(std::string* out, uint64_t stream_id, const ResponseEndInfo& end);

 private:
  void finish(std::string* out, uint64_t stream_id, uint8_t body_type, flatbuffers::Offset<void> body);

  flatbuffers::FlatBufferBuilder builder_;
};

}  // namespace outrigger::ipc
