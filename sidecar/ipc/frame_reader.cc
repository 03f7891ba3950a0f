#include "ipc/frame_reader.h"

#include <algorithm>
#include <cstring>

#include "outrigger_generated.h"

namespace outrigger::ipc {
namespace {

constexpr size_t kMinPartialBuffer = 4096;
constexpr size_t kScratchBytes = 64 * 1024;

// Whole frames at odd offsets of the caller's buffer are copied here to be aligned. Frames
// larger than this go through a partial buffer or a one-off allocation.
uint8_t* alignedScratch() {
  thread_local std::unique_ptr<uint64_t[]> scratch(new uint64_t[kScratchBytes / 8]);
  return reinterpret_cast<uint8_t*>(scratch.get());
}

}  // namespace

bool PartialFrameBudget::take(uint64_t bytes) {
  uint64_t held = held_.load(std::memory_order_relaxed);
  do {
    if (held + bytes > limit_) return false;
  } while (!held_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
  return true;
}

FrameReader::FrameReader(uint32_t max_frame_size, PartialFrameBudget* budget)
    : max_frame_size_(max_frame_size), budget_(budget) {}

FrameReader::~FrameReader() { release(); }

uint32_t FrameReader::announcedLength() const {
  return total_ ? static_cast<uint32_t>(total_ - 4) : 0;
}

FrameReader::Result FrameReader::checkLength(uint32_t len) const {
  if (len > max_frame_size_) return Result::kTooLarge;
  if (len < kMinFrameSize) return Result::kTooSmall;
  return Result::kOk;
}

void FrameReader::release() {
  if (budget_ && capacity_) budget_->give(capacity_);
  buffer_.reset();
  capacity_ = 0;
}

// Room for `needed` bytes of the partial frame: doubles, never past the frame's own size, and
// never before the bytes are there to fill it.
bool FrameReader::grow(size_t needed) {
  if (needed <= capacity_) return true;
  size_t cap = std::max({needed, capacity_ * 2, kMinPartialBuffer});
  cap = std::min(cap, total_);
  cap = (cap + 7) & ~size_t{7};
  if (budget_ && !budget_->take(cap - capacity_)) {
    // Doubling may overshoot what is left; what the bytes need may still fit.
    cap = (needed + 7) & ~size_t{7};
    if (!budget_->take(cap - capacity_)) return false;
  }
  std::unique_ptr<uint64_t[]> bigger(new uint64_t[cap / 8]);  // not zeroed: only written bytes are read
  if (have_) std::memcpy(bigger.get(), buffer_.get(), have_);
  buffer_ = std::move(bigger);
  capacity_ = cap;
  return true;
}

FrameReader::Result FrameReader::continuePartial(const char* data, size_t size, size_t* used, FrameFn on_frame,
                                                 void* context) {
  size_t pos = 0;
  while (prefix_len_ < 4 && pos < size) prefix_[prefix_len_++] = static_cast<uint8_t>(data[pos++]);
  if (prefix_len_ < 4) {
    *used = pos;
    return Result::kOk;
  }
  if (total_ == 0) {
    uint32_t len = flatbuffers::ReadScalar<uint32_t>(prefix_);
    if (Result r = checkLength(len); r != Result::kOk) return r;
    total_ = size_t{4} + len;
  }
  size_t take = std::min(size - pos, total_ - std::max<size_t>(have_, 4));
  if (take == 0) {  // only the prefix so far: nothing is allocated before body bytes arrive
    *used = pos;
    return Result::kOk;
  }
  size_t after = std::max<size_t>(have_, 4) + take;
  if (!grow(after)) return Result::kNoMemory;
  auto* buf = reinterpret_cast<uint8_t*>(buffer_.get());
  if (have_ < 4) std::memcpy(buf, prefix_, 4);
  std::memcpy(buf + std::max<size_t>(have_, 4), data + pos, take);
  have_ = after;
  pos += take;
  *used = pos;
  if (have_ < total_) return Result::kOk;
  bool go_on = on_frame(context, buf, total_);
  prefix_len_ = 0;
  total_ = have_ = 0;
  release();  // large frames are rare: give the memory back rather than keep the peak
  return go_on ? Result::kOk : Result::kStopped;
}

FrameReader::Result FrameReader::feed(const char* data, size_t size, FrameFn on_frame, void* context) {
  size_t pos = 0;
  while (pos < size) {
    if (prefix_len_ > 0) {
      size_t used = 0;
      Result r = continuePartial(data + pos, size - pos, &used, on_frame, context);
      if (r != Result::kOk) return r;
      pos += used;
      continue;
    }
    size_t avail = size - pos;
    if (avail >= 4) {
      uint32_t len = flatbuffers::ReadScalar<uint32_t>(data + pos);
      if (Result r = checkLength(len); r != Result::kOk) return r;
      size_t total = size_t{4} + len;
      if (avail >= total) {
        const auto* frame = reinterpret_cast<const uint8_t*>(data + pos);
        std::unique_ptr<uint64_t[]> oversized;
        if (reinterpret_cast<uintptr_t>(frame) % 8 != 0) {
          uint8_t* dst = alignedScratch();
          if (total > kScratchBytes) {
            oversized.reset(new uint64_t[(total + 7) / 8]);
            dst = reinterpret_cast<uint8_t*>(oversized.get());
          }
          std::memcpy(dst, frame, total);
          frame = dst;
        }
        pos += total;
        if (!on_frame(context, frame, total)) return Result::kStopped;
        continue;
      }
    }
    // The rest is the beginning of a frame: keep it, and only it.
    ++partial_serial_;
    size_t used = 0;
    Result r = continuePartial(data + pos, size - pos, &used, on_frame, context);
    if (r != Result::kOk) return r;
    pos += used;
  }
  return Result::kOk;
}

Expected<const wire::Frame*> verifyFrame(const uint8_t* data, size_t size) {
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
    return Status(Code::kInternal, "frame buffer is not 8-byte aligned");
  }
  if (size < 4 + kMinFrameSize) return Status(Code::kInvalidArgument, "frame too short");
  if (!flatbuffers::BufferHasIdentifier(data, wire::FrameIdentifier(), /*size_prefixed=*/true)) {
    return Status(Code::kInvalidArgument, "frame lacks the ORG1 file identifier");
  }
  flatbuffers::Verifier verifier(data, size, /*max_depth=*/16, /*max_tables=*/100000,
                                 /*check_alignment=*/true);
  if (!wire::VerifySizePrefixedFrameBuffer(verifier)) {
    return Status(Code::kInvalidArgument, "frame failed FlatBuffers verification");
  }
  return wire::GetSizePrefixedFrame(data);
}

uint64_t streamIdOfUnverifiedFrame(const uint8_t* data, size_t size) {
  if (size < 4 + kMinFrameSize || reinterpret_cast<uintptr_t>(data) % 8 != 0) return 0;
  if (!flatbuffers::BufferHasIdentifier(data, wire::FrameIdentifier(), /*size_prefixed=*/true)) return 0;
  // Over the whole frame, prefix included, so alignment is checked as verifyFrame checks it.
  flatbuffers::Verifier verifier(data, size, /*max_depth=*/4, /*max_tables=*/4, /*check_alignment=*/true);
  if (!verifier.VerifyOffset(4)) return 0;  // the root offset points inside the frame
  const auto* frame = wire::GetSizePrefixedFrame(data);
  const auto* table = reinterpret_cast<const flatbuffers::Table*>(frame);  // Frame inherits privately
  if (!table->VerifyTableStart(verifier) || !table->VerifyField<uint64_t>(verifier, wire::Frame::VT_STREAM_ID, 8)) {
    return 0;
  }
  return frame->stream_id();
}

}  // namespace outrigger::ipc
