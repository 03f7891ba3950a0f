#include "spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <vector>

#include "otlp_encoding.h"

namespace outrigger::otlp {
namespace {

constexpr uint32_t kMagic = 0x5053544f;  // "OTSP"
constexpr uint8_t kVersion = 1;
constexpr size_t kHeader = 24;
// The cursor: the head segment's sequence and the offset in it (8 bytes each), then a magic and
// the CRC-32 of the 20 bytes before it. Builds before it wrote the sequence and offset alone, and
// read only those 16 bytes, so a rollback to one still finds where the spool was.
constexpr uint32_t kCursorMagic = 0x4353544f;  // "OTSC"
constexpr size_t kCursorBytes = 24;
constexpr size_t kOldCursorBytes = 16;
constexpr uint64_t kMinSegment = 4096;
constexpr uint64_t kMaxSegment = 8u << 20;
constexpr uint32_t kMaxBody = 1u << 30;

void put32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint32_t get32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

uint32_t crcOf(const void* data, size_t size) {
  return static_cast<uint32_t>(crc32(0L, static_cast<const Bytef*>(data), static_cast<uInt>(size)));
}
uint32_t crcOf(const std::string& body) { return crcOf(body.data(), body.size()); }

uint64_t get64(const unsigned char* p) { return uint64_t{get32(p)} | uint64_t{get32(p + 4)} << 32; }
void put64(unsigned char* p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v));
  put32(p + 4, static_cast<uint32_t>(v >> 32));
}

bool preadAll(int fd, void* buf, size_t n, uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  while (n) {
    ssize_t k = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
    offset += static_cast<uint64_t>(k);
  }
  return true;
}

bool parseSeq(const char* name, uint64_t* seq) {
  size_t len = std::strlen(name);
  if (len != 24 || std::strcmp(name + 20, ".seg") != 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  *seq = v;
  return true;
}

}  // namespace

std::unique_ptr<Spool> Spool::open(const std::string& dir, uint64_t max_bytes, OpenError* error, std::string* detail) {
  *error = OpenError::kFailed;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *detail = "cannot create " + dir + ": " + std::strerror(errno);
    return nullptr;
  }
  std::string lock_path = dir + "/lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *detail = "cannot open " + lock_path + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    *error = errno == EWOULDBLOCK ? OpenError::kBusy : OpenError::kFailed;
    *detail = dir + " is in use by another exporter";
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<Spool> spool(new Spool(dir, max_bytes, fd));
  if (!spool->load(detail)) return nullptr;
  *error = OpenError::kNone;
  return spool;
}

Spool::Spool(std::string dir, uint64_t max_bytes, int lock_fd)
    : dir_(std::move(dir)),
      max_bytes_(max_bytes),
      segment_bytes_(std::clamp<uint64_t>(max_bytes / 8, kMinSegment, kMaxSegment)),
      lock_fd_(lock_fd) {}

Spool::~Spool() {
  for (int fd : {tail_fd_, cursor_fd_, lock_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

std::string Spool::segmentPath(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "/%020llu.seg", static_cast<unsigned long long>(seq));
  return dir_ + name;
}

// False when the file holds something that is no cursor (a torn write, damage): the caller then
// sends the spool again from its oldest batch. An empty file (a new spool) reads as 0, 0.
bool Spool::readCursor(uint64_t* seq, uint64_t* offset) const {
  *seq = *offset = 0;
  struct stat st {};
  if (::fstat(cursor_fd_, &st) != 0) return false;
  unsigned char cur[kCursorBytes] = {};
  if (st.st_size == 0) return true;
  if (st.st_size == kOldCursorBytes && preadAll(cursor_fd_, cur, kOldCursorBytes, 0)) {
    *seq = get64(cur);  // an older build's: checked against the segments like any other
    *offset = get64(cur + 8);
    return true;
  }
  if (st.st_size != kCursorBytes || !preadAll(cursor_fd_, cur, kCursorBytes, 0)) return false;
  if (get32(cur + 16) != kCursorMagic || get32(cur + 20) != crcOf(cur, 20)) return false;
  *seq = get64(cur);
  *offset = get64(cur + 8);
  return true;
}

// Whether the cursor can be where it says, among the segments found: not past the newest, and
// in its own segment at a batch's start (or the end). A cursor may point before the oldest
// segment: those were acknowledged and removed.
bool Spool::cursorFits(const std::vector<uint64_t>& seqs, uint64_t seq, uint64_t offset) const {
  if (seqs.empty()) return true;
  if (seq > seqs.back()) return false;
  if (!std::binary_search(seqs.begin(), seqs.end(), seq)) return true;
  std::string path = segmentPath(seq);
  struct stat st {};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;  // unreadable: load() leaves it out anyway
  uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  uint64_t at = 0;
  uint32_t items = 0, length = 0, crc = 0;
  uint8_t signal = 0, encoding = 0;
  while (at < offset && readHeader(fd, at, size, &items, &length, &crc, &signal, &encoding)) at += kHeader + length;
  ::close(fd);
  // Past the offset: it falls inside a batch. Short of it, a damaged header stopped the walk,
  // which leaves the offset unproven but the cursor passed its own check.
  return offset <= size && at <= offset;
}

bool Spool::load(std::string* detail) {
  std::string cursor_path = dir_ + "/cursor";
  cursor_fd_ = ::open(cursor_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (cursor_fd_ < 0) {
    *detail = "cannot open " + cursor_path + ": " + std::strerror(errno);
    return false;
  }
  uint64_t cursor_seq = 0, cursor_offset = 0;
  bool readable = readCursor(&cursor_seq, &cursor_offset);
  DIR* d = ::opendir(dir_.c_str());
  if (!d) {
    *detail = "cannot read " + dir_ + ": " + std::strerror(errno);
    return false;
  }
  std::vector<uint64_t> seqs;
  while (dirent* e = ::readdir(d)) {
    uint64_t seq = 0;
    if (parseSeq(e->d_name, &seq)) seqs.push_back(seq);
  }
  ::closedir(d);
  std::sort(seqs.begin(), seqs.end());
  if (!readable || !cursorFits(seqs, cursor_seq, cursor_offset)) {
    // Trusting it could delete batches never sent: sending some twice is the lesser harm.
    notice_ = "spool cursor " + std::string(readable ? "points past the spool's batches" : "is damaged") +
              "; sending every batch the spool holds again, from the oldest";
    cursor_seq = cursor_offset = 0;
  }
  for (uint64_t seq : seqs) {
    struct stat st {};
    std::string path = segmentPath(seq);
    if (seq < cursor_seq || ::stat(path.c_str(), &st) != 0) {
      ::unlink(path.c_str());  // acknowledged before the restart
      continue;
    }
    segments_.push_back({seq, static_cast<uint64_t>(st.st_size)});
  }
  next_seq_ = std::max<uint64_t>(cursor_seq, 1);
  if (!seqs.empty()) next_seq_ = std::max(next_seq_, seqs.back() + 1);
  if (!segments_.empty() && segments_.front().seq == cursor_seq) head_offset_ = cursor_offset;
  for (size_t i = 0; i < segments_.size(); ++i) scan(segments_[i], i + 1 == segments_.size());
  return true;
}

// Counts the batches of a segment from where reading starts, and cuts a torn tail off the last
// one, the only one an append can have left torn. An earlier segment's damage is left on disk:
// next() skips the rest of that segment (and counts it) when it reaches it, so it counts as one
// batch here.
void Spool::scan(Segment& seg, bool last) {
  std::string path = segmentPath(seg.seq);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  if (&seg == &segments_.front()) head_offset_ = std::min(head_offset_, seg.size);
  uint64_t offset = &seg == &segments_.front() ? head_offset_ : 0;
  uint32_t items = 0, length = 0, crc = 0;
  uint8_t signal = 0, encoding = 0;
  while (offset < seg.size && readHeader(fd, offset, seg.size, &items, &length, &crc, &signal, &encoding)) {
    ++entries_;
    items_ += items;
    offset += kHeader + length;
  }
  if (offset < seg.size && last) {
    if (::ftruncate(fd, static_cast<off_t>(offset)) == 0) seg.size = offset;
    ++corrupt_;
  } else if (offset < seg.size) {
    ++entries_;
  }
  bytes_ += seg.size;
  if (last) tail_fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ::close(fd);
}

bool Spool::readHeader(int fd, uint64_t offset, uint64_t size, uint32_t* items, uint32_t* length, uint32_t* crc,
                       uint8_t* signal, uint8_t* encoding) const {
  unsigned char h[kHeader];
  if (offset + kHeader > size || !preadAll(fd, h, kHeader, offset)) return false;
  if (get32(h) != kMagic || h[4] != kVersion) return false;
  *signal = h[5];
  *encoding = h[6];
  *items = get32(h + 8);
  *length = get32(h + 12);
  *crc = get32(h + 16);
  return *length <= kMaxBody && offset + kHeader + *length <= size;
}

Spool::Append Spool::append(const Entry& e) {
  uint64_t size = kHeader + e.body.size();
  if (e.body.size() > kMaxBody || bytes_ + size > max_bytes_) return Append::kFull;
  if (tail_fd_ < 0 || (segments_.back().size > 0 && segments_.back().size + size > segment_bytes_)) {
    uint64_t seq = next_seq_++;
    int fd = ::open(segmentPath(seq).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
      last_error_ = errno;
      return Append::kError;
    }
    if (tail_fd_ >= 0) ::close(tail_fd_);
    tail_fd_ = fd;
    segments_.push_back({seq, 0});
    if (segments_.size() == 1) {
      head_offset_ = 0;
      writeCursor();
    }
  }
  unsigned char h[kHeader] = {};
  put32(h, kMagic);
  h[4] = kVersion;
  h[5] = e.signal;
  h[6] = e.encoding;
  put32(h + 8, e.items);
  put32(h + 12, static_cast<uint32_t>(e.body.size()));
  put32(h + 16, crcOf(e.body));
  iovec iov[2] = {{h, kHeader}, {const_cast<char*>(e.body.data()), e.body.size()}};
  ssize_t k;
  do {
    k = ::writev(tail_fd_, iov, 2);
  } while (k < 0 && errno == EINTR);
  Segment& tail = segments_.back();
  if (k != static_cast<ssize_t>(size)) {
    last_error_ = k < 0 ? errno : ENOSPC;  // a short write: the disk filled up mid-batch
    if (::ftruncate(tail_fd_, static_cast<off_t>(tail.size)) != 0) {
      // The torn batch stays; the next open() cuts it off.
    }
    return Append::kError;
  }
  tail.size += size;
  bytes_ += size;
  ++entries_;
  items_ += e.items;
  return Append::kOk;
}

bool Spool::next(Entry* out) {
  if (handed_.empty() && !segments_.empty()) {
    // Nothing out: read from the cursor, dropping segments read to their end on the way.
    while (segments_.size() > 1 && head_offset_ >= segments_.front().size) dropHead();
    read_seq_ = segments_.front().seq;
    read_offset_ = head_offset_;
  }
  while (entries_ > handed_.size()) {
    auto seg = std::find_if(segments_.begin(), segments_.end(), [&](const Segment& s) { return s.seq >= read_seq_; });
    if (seg == segments_.end()) break;
    if (seg->seq > read_seq_) {
      read_seq_ = seg->seq;
      read_offset_ = 0;
    }
    if (read_offset_ >= seg->size) {
      // Read to its end: on to the next segment (the tail may still grow, so it stays).
      if (std::next(seg) == segments_.end()) break;
      read_seq_ = std::next(seg)->seq;
      read_offset_ = 0;
      continue;
    }
    int fd = ::open(segmentPath(seg->seq).c_str(), O_RDONLY | O_CLOEXEC);
    uint32_t items = 0, length = 0, crc = 0;
    uint8_t signal = 0, encoding = 0;
    if (fd < 0 || !readHeader(fd, read_offset_, seg->size, &items, &length, &crc, &signal, &encoding)) {
      if (fd >= 0) ::close(fd);
      skipped(seg->size, 0);
      continue;
    }
    // A batch in an encoding this build does not know (written by a newer one), or whose body
    // fails its CRC: its header is sound, so only it is skipped.
    bool sendable = encoding <= static_cast<uint8_t>(kLastEncoding);
    if (sendable) {
      out->body.resize(length);
      sendable = preadAll(fd, out->body.data(), length, read_offset_ + kHeader) && crcOf(out->body) == crc;
    }
    ::close(fd);
    if (!sendable) {
      skipped(read_offset_ + kHeader + length, items);
      continue;
    }
    out->signal = signal;
    out->encoding = encoding;
    out->items = items;
    read_offset_ += kHeader + length;
    handed_.push_back({read_seq_, read_offset_, items});
    return true;
  }
  // Whatever the counts said, nothing readable is left beyond what is out.
  if (entries_ > handed_.size()) settleCounts();
  return false;
}

// With nothing readable left beyond the batches out, the counts are exactly theirs, whatever
// skipped damage left them at.
void Spool::settleCounts() {
  entries_ = handed_.size();
  items_ = 0;
  for (const Handed& h : handed_) items_ += h.items;
}

// Damage skipped in the segment being read, up to offset `to`: one batch whose header is sound
// but whose body cannot be sent (its `items` known), or, when a header is damaged since open()
// checked it, the rest of the segment (how many batches it held is unknown then: the counts come
// right once the reads have found every readable one, above). With nothing out, everything up to
// `to` is done with, so the cursor moves there (segments before this one are dropped) and a
// skipped batch is never read, or counted, twice.
void Spool::skipped(uint64_t to, uint32_t items) {
  ++corrupt_;
  if (entries_ > handed_.size()) --entries_;
  items_ -= std::min<uint64_t>(items_, items);
  if (entries_ == handed_.size()) settleCounts();
  read_offset_ = to;
  if (handed_.empty()) {
    while (segments_.front().seq < read_seq_) dropHead();
    head_offset_ = read_offset_;
    writeCursor();
  }
}

void Spool::pop() {
  if (handed_.empty() || segments_.empty()) return;
  Handed h = handed_.front();
  handed_.pop_front();
  --entries_;
  items_ -= std::min<uint64_t>(items_, h.items);
  while (segments_.size() > 1 && segments_.front().seq < h.seq) dropHead();  // read (or skipped) to their end
  head_offset_ = h.end;
  if (handed_.empty()) {
    // Nothing out: all before the read position is sent or was skipped as damage, so the cursor
    // goes there and a skipped batch is not read (and counted) again.
    while (segments_.size() > 1 && segments_.front().seq < read_seq_) dropHead();
    if (segments_.front().seq == read_seq_) head_offset_ = std::max(head_offset_, read_offset_);
  }
  if (head_offset_ >= segments_.front().size) dropHead();
  writeCursor();
}

// Removes the fully acknowledged oldest segment; the tail one too when it is drained, so an
// idle spool holds no data on disk.
void Spool::dropHead() {
  Segment head = segments_.front();
  segments_.pop_front();
  if (segments_.empty()) {
    if (tail_fd_ >= 0) ::close(tail_fd_);
    tail_fd_ = -1;
  }
  ::unlink(segmentPath(head.seq).c_str());
  bytes_ -= std::min(bytes_, head.size);
  head_offset_ = 0;
}

void Spool::writeCursor() {
  uint64_t seq = segments_.empty() ? next_seq_ : segments_.front().seq;
  unsigned char cur[kCursorBytes];
  put64(cur, seq);
  put64(cur + 8, head_offset_);
  put32(cur + 16, kCursorMagic);
  put32(cur + 20, crcOf(cur, 20));
  if (::pwrite(cursor_fd_, cur, sizeof cur, 0) != static_cast<ssize_t>(sizeof cur)) {
    // A stale cursor only means batches already sent are sent again after a restart (a torn
    // one fails its CRC, with the same result).
  }
  if (!cursor_sized_) cursor_sized_ = ::ftruncate(cursor_fd_, kCursorBytes) == 0;  // an older build's was shorter
}

}  // namespace outrigger::otlp
