#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <vector>

#include "ipc/frame_reader.h"
#include "outrigger_generated.h"
#include "support/frames.h"

using namespace outrigger;
using namespace outrigger::testing;
using ipc::FrameReader;

namespace {

std::string lengthPrefix(uint32_t n) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &n, 4);
  return s;
}

// Collects what a reader hands out, checking alignment on the way.
struct Frames {
  std::vector<std::string> got;
  bool misaligned = false;
  bool stop_after_first = false;

  static bool take(void* self, const uint8_t* frame, size_t size) {
    auto* f = static_cast<Frames*>(self);
    if (reinterpret_cast<uintptr_t>(frame) % 8 != 0) f->misaligned = true;
    f->got.emplace_back(reinterpret_cast<const char*>(frame), size);
    return !f->stop_after_first;
  }
};

FrameReader::Result feed(FrameReader& r, Frames& f, const std::string& bytes) {
  return r.feed(bytes.data(), bytes.size(), &Frames::take, &f);
}

}  // namespace

TEST_CASE("a truncated frame waits for more bytes, then comes out whole") {
  FrameReader r;
  Frames f;
  std::string frame = requestFrame(1, {});
  CHECK(feed(r, f, frame.substr(0, 3)) == FrameReader::Result::kOk);
  CHECK(r.midFrame());
  CHECK(feed(r, f, frame.substr(3, frame.size() - 10)) == FrameReader::Result::kOk);
  CHECK(f.got.empty());
  CHECK(feed(r, f, frame.substr(frame.size() - 7)) == FrameReader::Result::kOk);
  REQUIRE(f.got.size() == 1);
  CHECK(f.got[0] == frame);
  CHECK_FALSE(f.misaligned);
  CHECK_FALSE(r.midFrame());
  CHECK(r.heldBytes() == 0);  // the partial frame's buffer went with it
}

TEST_CASE("an oversized length is refused before anything is allocated for it") {
  FrameReader r(1024);
  Frames f;
  CHECK(feed(r, f, lengthPrefix(64u << 20)) == FrameReader::Result::kTooLarge);
  CHECK(r.heldBytes() == 0);
}

TEST_CASE("a length below the minimum frame is refused") {
  FrameReader r;
  Frames f;
  CHECK(feed(r, f, lengthPrefix(3) + "abc") == FrameReader::Result::kTooSmall);
}

TEST_CASE("an announced frame costs only the bytes that have arrived") {
  ipc::PartialFrameBudget budget(64u << 20);
  FrameReader r(8u << 20, &budget);
  Frames f;
  CHECK(feed(r, f, lengthPrefix(4u << 20)) == FrameReader::Result::kOk);
  CHECK(r.midFrame());
  CHECK(r.announcedLength() == (4u << 20));
  CHECK(r.heldBytes() == 0);  // the prefix alone allocates nothing
  CHECK(feed(r, f, std::string(10000, 'x')) == FrameReader::Result::kOk);
  CHECK(r.heldBytes() >= 10004);
  CHECK(r.heldBytes() < 64 * 1024);  // grows with what arrived, not with what was announced
  CHECK(budget.held() == r.heldBytes());
}

TEST_CASE("partial frames beyond the process budget are refused, and a closed reader gives its share back") {
  ipc::PartialFrameBudget budget(1u << 20);
  Frames f;
  auto a = std::make_unique<FrameReader>(8u << 20, &budget);
  CHECK(feed(*a, f, lengthPrefix(2u << 20) + std::string(900 * 1024, 'x')) == FrameReader::Result::kOk);
  CHECK(budget.held() > 0);
  FrameReader b(8u << 20, &budget);
  CHECK(feed(b, f, lengthPrefix(2u << 20) + std::string(300 * 1024, 'x')) == FrameReader::Result::kNoMemory);
  a.reset();
  CHECK(budget.held() == 0);
}

TEST_CASE("a partial frame that fits the budget is held even when doubling its buffer would not fit") {
  ipc::PartialFrameBudget budget(1u << 20);
  FrameReader r(8u << 20, &budget);
  Frames f;
  // Bytes in odd steps, so the doubled sizes are not powers of two and overshoot 1 MiB.
  CHECK(feed(r, f, lengthPrefix(3u << 20) + std::string(4096, 'x')) == FrameReader::Result::kOk);
  for (size_t have = 4100; have + 4100 <= (1u << 20); have += 4100) {
    REQUIRE(feed(r, f, std::string(4100, 'x')) == FrameReader::Result::kOk);
  }
  CHECK(budget.held() <= (1u << 20));
  CHECK(r.heldBytes() > (1u << 20) - 8200);
}

TEST_CASE("frames at odd offsets in the stream come out 8-byte aligned and verify") {
  FrameReader r;
  Frames f;
  // A first frame padded so the second starts misaligned in the read buffer.
  std::string a = requestFrame(1, {});
  std::string b = requestFrame(2, {.messages = {{"user", "second"}}});
  std::string junk_frame = lengthPrefix(9) + std::string(9, 'x');  // 13 bytes: misaligns what follows
  std::string bytes = "\x01" + junk_frame + b + a;                 // and the whole buffer starts odd
  CHECK(r.feed(bytes.data() + 1, bytes.size() - 1, &Frames::take, &f) == FrameReader::Result::kOk);
  REQUIRE(f.got.size() == 3);
  CHECK_FALSE(f.misaligned);
  CHECK(f.got[1] == b);
  CHECK(f.got[2] == a);
  for (int i = 1; i < 3; ++i) {
    AlignedFrame aligned(f.got[i]);
    CHECK(ipc::verifyFrame(aligned.data(), aligned.size).ok());
  }
}

TEST_CASE("a frame callback that stops the reader stops it at once") {
  FrameReader r;
  Frames f;
  f.stop_after_first = true;
  std::string two = requestFrame(1, {}) + requestFrame(2, {});
  CHECK(feed(r, f, two) == FrameReader::Result::kStopped);
  CHECK(f.got.size() == 1);
}

TEST_CASE("a frame whose body is corrupt still tells its stream id") {
  std::string frame = requestFrame(42, {.messages = {{"user", "hello"}}});
  AlignedFrame good(frame);
  CHECK(ipc::streamIdOfUnverifiedFrame(good.data(), good.size) == 42);
  std::string bad = frame;
  uint32_t huge = 0x7ffffff0;  // the body's offset now points far outside the frame
  std::memcpy(bad.data() + bad.size() - 8, &huge, 4);
  AlignedFrame a(bad);
  CHECK(ipc::streamIdOfUnverifiedFrame(a.data(), a.size) == 42);
  std::string garbage = lengthPrefix(32) + std::string(32, '\x7f');
  AlignedFrame g(garbage);
  CHECK(ipc::streamIdOfUnverifiedFrame(g.data(), g.size) == 0);
}

TEST_CASE("garbage, a wrong identifier and a lying root offset fail verification") {
  std::string f = requestFrame(1, {});
  SECTION("random bytes") {
    std::string g = lengthPrefix(32) + std::string(32, '\x7f');
    AlignedFrame a(g);
    CHECK_FALSE(ipc::verifyFrame(a.data(), a.size).ok());
  }
  SECTION("wrong file identifier") {
    std::string g = f;
    g[8] = 'X';
    AlignedFrame a(g);
    auto v = ipc::verifyFrame(a.data(), a.size);
    REQUIRE_FALSE(v.ok());
    CHECK(v.status().message().find("identifier") != std::string::npos);
  }
  SECTION("root offset past the end") {
    std::string g = f;
    uint32_t huge = 0x7ffffff0;
    std::memcpy(g.data() + 4, &huge, 4);
    AlignedFrame a(g);
    CHECK_FALSE(ipc::verifyFrame(a.data(), a.size).ok());
  }
  SECTION("truncated body") {
    std::string g = f.substr(0, f.size() - 8);
    uint32_t n = static_cast<uint32_t>(g.size() - 4);
    std::memcpy(g.data(), &n, 4);
    AlignedFrame a(g);
    CHECK_FALSE(ipc::verifyFrame(a.data(), a.size).ok());
  }
  SECTION("misaligned buffer is refused") {
    std::vector<uint64_t> words((f.size() + 16) / 8);
    auto* p = reinterpret_cast<uint8_t*>(words.data()) + 4;
    std::memcpy(p, f.data(), f.size());
    CHECK_FALSE(ipc::verifyFrame(p, f.size()).ok());
  }
}

TEST_CASE("an unknown union member verifies, so the server can answer UNIMPLEMENTED") {
  flatbuffers::FlatBufferBuilder b;
  auto ping = wire::CreatePing(b, 7);
  wire::FrameBuilder fb(b);
  fb.add_stream_id(5);
  fb.add_body_type(static_cast<wire::Body>(200));
  fb.add_body(ping.Union());
  b.FinishSizePrefixed(fb.Finish(), wire::FrameIdentifier());
  AlignedFrame a(std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
  auto v = ipc::verifyFrame(a.data(), a.size);
  REQUIRE(v.ok());
  CHECK(static_cast<int>(v.value()->body_type()) == 200);
  CHECK(v.value()->stream_id() == 5);
}
