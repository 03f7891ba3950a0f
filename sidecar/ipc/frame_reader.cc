#include "ipc/frame_reader.h"

#include <cstring>

#include "outrigger_generated.h"

namespace outrigger::ipc {

FrameReader::FrameReader(uint32_t max_frame_size) : max_frame_size_(max_frame_size) { reserve(64 * 1024); }

void FrameReader::reserve(size_t needed) {
  // Compact first: keeps the next frame at offset 0, which is 8-byte aligned.
  if (begin_ > 0) {
    std::memmove(storage_.get(), reinterpret_cast<char*>(storage_.get()) + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (needed <= capacity_) return;
  size_t cap = capacity_ ? capacity_ : 64 * 1024;
  while (cap < needed) cap *= 2;
  auto bigger = std::make_unique<uint64_t[]>((cap + 7) / 8);
  if (end_) std::memcpy(bigger.get(), storage_.get(), end_);
  storage_ = std::move(bigger);
  capacity_ = cap;
}

std::pair<char*, size_t> FrameReader::writableSpace(size_t hint) {
  if (capacity_ - end_ < hint) reserve(end_ - begin_ + hint);
  return {reinterpret_cast<char*>(storage_.get()) + end_, capacity_ - end_};
}

FrameReader::Next FrameReader::next(const uint8_t** frame, size_t* size) {
  size_t avail = end_ - begin_;
  if (avail < 4) return Next::kNeedMore;
  const auto* base = reinterpret_cast<const uint8_t*>(storage_.get());
  uint32_t len = flatbuffers::ReadScalar<uint32_t>(base + begin_);
  if (len > max_frame_size_) return Next::kTooLarge;
  if (len < kMinFrameSize) return Next::kTooSmall;
  size_t total = size_t{4} + len;
  if (avail < total) {
    if (begin_ + total > capacity_) reserve(total);
    return Next::kNeedMore;
  }
  if (begin_ % 8 != 0) reserve(total);  // realign by compacting to offset 0
  base = reinterpret_cast<const uint8_t*>(storage_.get());
  *frame = base + begin_;
  *size = total;
  begin_ += total;
  if (begin_ == end_) begin_ = end_ = 0;
  return Next::kFrame;
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

}  // namespace outrigger::ipc
