// A bounded on-disk FIFO of encoded export batches, for when the collector cannot take them.
//
// Layout in its directory: `lock` (flock'd by the one Spool that owns the directory; a second
// open, e.g. the next config's instance during a reload, gets Busy until the first is gone),
// append-only segment files `<20-digit sequence>.seg`, and `cursor` (the head segment and the
// offset of its first unacknowledged batch, with a magic and a CRC, rewritten on each pop). Each
// batch is a 24-byte header (magic, version, signal, body encoding, item count, body length,
// CRC-32 of the body) and the body. A cursor that fails its check, or points past the batches
// on disk, is not trusted (it could delete batches never sent): the spool is sent again from its
// oldest batch, and openNotice() says so.
//
// Bounded by `max_bytes` over every segment file (the acknowledged head of the oldest segment
// counts until that segment is removed): a batch that does not fit is refused (Full), never
// the oldest evicted, so what was spooled is delivered in order. Survives a restart: open()
// picks up the segments and the cursor. A torn tail of the last segment (a crash mid-append) is
// truncated away; an earlier segment, which no append touches any more, is never cut. A batch
// whose body fails its CRC, or in an encoding this build does not know, is skipped alone and its
// neighbours sent; a damaged header in an earlier segment, or one damaged after open() read it,
// loses the rest of its segment (next() skips it when it gets there); each is counted (the CRC covers the body only, so a damaged encoding byte goes unseen: the
// batch is sent with the other Content-Type and rejected). Not
// thread-safe: the exporter thread owns it. Blocking file I/O, bounded by one batch per call.
//
// Several batches may be out at once (read by next(), not yet acknowledged by pop()), so a
// sender can have several POSTs in flight; they are acknowledged oldest first, and the cursor
// only ever moves past acknowledged batches, so a restart sends again exactly what was not.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace outrigger::otlp {

class Spool {
 public:
  struct Entry {
    uint8_t signal = 0;
    uint32_t items = 0;
    std::string body;
    uint8_t encoding = 0;  // 0 JSON, 1 protobuf (otlp_encoding.h); 0 in spools written before it existed
  };
  enum class Append { kOk, kFull, kError };
  enum class OpenError { kNone, kBusy, kFailed };

  // Opens (creating the directory's last component when missing) and takes the lock.
  static std::unique_ptr<Spool> open(const std::string& dir, uint64_t max_bytes, OpenError* error, std::string* detail);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  [[nodiscard]] Append append(const Entry& entry);
  // The errno of the last append that returned kError.
  int lastError() const { return last_error_; }
  bool empty() const { return entries_ == 0; }
  // The oldest batch that next() has not returned yet; false when there is none. Reads it from
  // disk (batches that fail their check on the way are skipped and counted in corrupt()).
  bool next(Entry* out);
  // Acknowledges the oldest batch next() returned that is not acknowledged yet.
  void pop();
  // Batches next() returned that pop() has not acknowledged.
  size_t outstanding() const { return handed_.size(); }

  uint64_t entries() const { return entries_; }
  uint64_t items() const { return items_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t corrupt() const { return corrupt_; }
  // What open() found worth a warning (a damaged cursor, so the whole spool is sent again);
  // empty when nothing.
  const std::string& openNotice() const { return notice_; }
  uint64_t maxBytes() const { return max_bytes_; }

 private:
  struct Segment {
    uint64_t seq;
    uint64_t size;
  };
  // A batch next() returned: where it ends, so pop() knows where the cursor goes.
  struct Handed {
    uint64_t seq;
    uint64_t end;
    uint32_t items;
  };
  Spool(std::string dir, uint64_t max_bytes, int lock_fd);
  bool load(std::string* detail);
  bool readCursor(uint64_t* seq, uint64_t* offset) const;
  bool cursorFits(const std::vector<uint64_t>& seqs, uint64_t seq, uint64_t offset) const;
  void scan(Segment& seg, bool last);
  std::string segmentPath(uint64_t seq) const;
  void dropHead();
  void skipped(uint64_t to, uint32_t items);
  void settleCounts();
  void writeCursor();
  bool readHeader(int fd, uint64_t offset, uint64_t size, uint32_t* items, uint32_t* length, uint32_t* crc,
                  uint8_t* signal, uint8_t* encoding) const;

  std::string dir_;
  uint64_t max_bytes_;
  uint64_t segment_bytes_;
  int lock_fd_ = -1;
  int cursor_fd_ = -1;
  int tail_fd_ = -1;  // the last segment, open for appending
  std::deque<Segment> segments_;
  uint64_t next_seq_ = 1;     // the sequence of the next new segment
  uint64_t head_offset_ = 0;  // first unacknowledged byte of segments_.front()
  uint64_t read_seq_ = 0;     // where next() reads: a segment's sequence and an offset in it
  uint64_t read_offset_ = 0;
  std::deque<Handed> handed_;  // returned by next(), not yet popped, oldest first
  uint64_t entries_ = 0, items_ = 0, bytes_ = 0, corrupt_ = 0;
  int last_error_ = 0;
  bool cursor_sized_ = false;  // the cursor file is kCursorBytes long
  std::string notice_;
};

}  // namespace outrigger::otlp
