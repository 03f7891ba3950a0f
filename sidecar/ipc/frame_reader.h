// Splits a byte stream into size-prefixed FlatBuffers frames and verifies them.
//
// The length is checked against the negotiated maximum before any allocation, and every frame
// handed out starts at an 8-byte aligned address (the Verifier only checks alignment relative
// to the buffer start, so the absolute alignment is ours to guarantee).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "common/status.h"

namespace outrigger::wire { struct Frame; }

namespace outrigger::ipc {

inline constexpr uint32_t kDefaultMaxFrameSize = 4u << 20;
inline constexpr uint32_t kHardMaxFrameSize = 64u << 20;
inline constexpr uint32_t kMinFrameSize = 8;  // root offset + file identifier

class FrameReader {
 public:
  explicit FrameReader(uint32_t max_frame_size = kDefaultMaxFrameSize);

  // Room for the next read; at least `hint` bytes unless a frame needs more.
  std::pair<char*, size_t> writableSpace(size_t hint = 64 * 1024);
  void commit(size_t n) { end_ += n; }

  enum class Next { kFrame, kNeedMore, kTooLarge, kTooSmall };
  // On kFrame, `*frame` points at 4 + L aligned bytes (prefix included), valid until the next
  // call to next() or writableSpace().
  Next next(const uint8_t** frame, size_t* size);

  void setMaxFrameSize(uint32_t max) { max_frame_size_ = max; }
  uint32_t maxFrameSize() const { return max_frame_size_; }
  size_t buffered() const { return end_ - begin_; }

 private:
  void reserve(size_t needed);

  std::unique_ptr<uint64_t[]> storage_;  // uint64_t keeps the base 8-byte aligned
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
  uint32_t max_frame_size_;
};

// Verifies one size-prefixed frame (prefix included) with tight limits: depth 16, 100k tables,
// alignment checked, file identifier "ORG1". Returns the root on success.
Expected<const wire::Frame*> verifyFrame(const uint8_t* data, size_t size);

}  // namespace outrigger::ipc
