// Splits a byte stream into size-prefixed FlatBuffers frames and verifies them.
//
// Bytes arrive in a buffer the caller owns (a worker shares one read buffer among all its
// connections). Whole frames found there are handed out in place; only a frame that is still
// arriving is copied into the reader's own buffer, which grows as its bytes actually arrive, never
// to the length the peer announced, and is freed when the frame is complete. So an idle
// connection holds no buffer at all, and a peer that announces a 4 MiB frame and sends nothing
// costs four bytes. What partial frames hold is also charged to a process-wide budget.
//
// Every frame handed out starts at an 8-byte aligned address (the Verifier only checks alignment
// relative to the buffer start, so the absolute alignment is ours to guarantee).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/status.h"

namespace outrigger::wire { struct Frame; }

namespace outrigger::ipc {

inline constexpr uint32_t kDefaultMaxFrameSize = 4u << 20;
inline constexpr uint32_t kHardMaxFrameSize = 64u << 20;
inline constexpr uint32_t kMinFrameSize = 8;  // root offset + file identifier

// The memory every connection's partial frames may hold together. Thread-safe.
class PartialFrameBudget {
 public:
  explicit PartialFrameBudget(uint64_t limit) : limit_(limit) {}
  bool take(uint64_t bytes);
  void give(uint64_t bytes) { held_.fetch_sub(bytes, std::memory_order_relaxed); }
  uint64_t held() const { return held_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> held_{0};
};

class FrameReader {
 public:
  // `budget` may be null (no process-wide bound: tests, the C++ SDK).
  explicit FrameReader(uint32_t max_frame_size = kDefaultMaxFrameSize, PartialFrameBudget* budget = nullptr);
  ~FrameReader();
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // Called for each whole frame: 4 + L bytes (prefix included), 8-byte aligned, valid during the
  // call. Returns false to stop reading (the connection is closing).
  using FrameFn = bool (*)(void* context, const uint8_t* frame, size_t size);

  enum class Result { kOk, kStopped, kTooLarge, kTooSmall, kNoMemory };
  // Consumes all of `data` unless a frame callback stops it or the stream is bad. The bytes
  // after a stop or an error are not kept (the connection is going).
  Result feed(const char* data, size_t size, FrameFn on_frame, void* context);

  // A frame has begun and is not complete.
  bool midFrame() const { return prefix_len_ > 0; }
  // Increments each time a new partial frame begins (for the frame-completion timeout).
  uint64_t partialSerial() const { return partial_serial_; }
  // Bytes of buffer this reader holds now.
  size_t heldBytes() const { return capacity_; }
  uint32_t announcedLength() const;  // of the partial frame; 0 before its prefix is whole

  void setMaxFrameSize(uint32_t max) { max_frame_size_ = max; }
  uint32_t maxFrameSize() const { return max_frame_size_; }

 private:
  Result checkLength(uint32_t len) const;
  Result continuePartial(const char* data, size_t size, size_t* used, FrameFn on_frame, void* context);
  bool grow(size_t needed);
  void release();

  uint32_t max_frame_size_;
  PartialFrameBudget* budget_;
  uint8_t prefix_[4] = {};
  uint8_t prefix_len_ = 0;      // bytes of the partial frame's length prefix seen (0: no partial)
  size_t total_ = 0;            // 4 + L of the partial frame once its prefix is whole
  size_t have_ = 0;             // bytes of it in buffer_ (prefix included)
  std::unique_ptr<uint64_t[]> buffer_;  // uint64_t keeps the base 8-byte aligned
  size_t capacity_ = 0;
  uint64_t partial_serial_ = 0;
};

// Verifies one size-prefixed frame (prefix included) with tight limits: depth 16, 100k tables,
// alignment checked, file identifier "ORG1". Returns the root on success.
Expected<const wire::Frame*> verifyFrame(const uint8_t* data, size_t size);

// The stream id of a frame that failed verification, when the Frame table itself (not its body)
// is sound enough to read it; 0 otherwise. Lets a bad body end only its own stream.
uint64_t streamIdOfUnverifiedFrame(const uint8_t* data, size_t size);

}  // namespace outrigger::ipc
