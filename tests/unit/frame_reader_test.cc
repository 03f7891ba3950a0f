#include <catch2/catch.hpp>

#include <cstring>

#include "ipc/frame_reader.h"
#include "outrigger_generated.h"
#include "support/frames.h"

using namespace outrigger;
using namespace outrigger::testing;
using ipc::FrameReader;

namespace {

void feed(FrameReader& r, const std::string& bytes) {
  auto [p, n] = r.writableSpace(bytes.size());
  REQUIRE(n >= bytes.size());
  std::memcpy(p, bytes.data(), bytes.size());
  r.commit(bytes.size());
}

std::string lengthPrefix(uint32_t n) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &n, 4);
  return s;
}

}  // namespace

TEST_CASE("a truncated frame waits for more bytes, then comes out whole") {
  FrameReader r;
  std::string f = requestFrame(1, {});
  const uint8_t* out = nullptr;
  size_t size = 0;
  feed(r, f.substr(0, 3));
  CHECK(r.next(&out, &size) == FrameReader::Next::kNeedMore);
  feed(r, f.substr(3, f.size() - 10));
  CHECK(r.next(&out, &size) == FrameReader::Next::kNeedMore);
  feed(r, f.substr(f.size() - 7));
  REQUIRE(r.next(&out, &size) == FrameReader::Next::kFrame);
  CHECK(size == f.size());
  CHECK(std::memcmp(out, f.data(), size) == 0);
  CHECK(ipc::verifyFrame(out, size).ok());
}

TEST_CASE("an oversized length is refused before anything is allocated for it") {
  FrameReader r(1024);
  feed(r, lengthPrefix(64u << 20));
  const uint8_t* out = nullptr;
  size_t size = 0;
  CHECK(r.next(&out, &size) == FrameReader::Next::kTooLarge);
  CHECK(r.buffered() == 4);  // nothing reserved for the announced 64 MiB
}

TEST_CASE("a length below the minimum frame is refused") {
  FrameReader r;
  feed(r, lengthPrefix(3) + "abc");
  const uint8_t* out = nullptr;
  size_t size = 0;
  CHECK(r.next(&out, &size) == FrameReader::Next::kTooSmall);
}

TEST_CASE("frames at odd offsets in the stream come out 8-byte aligned and verify") {
  FrameReader r;
  // A first frame padded so the second starts misaligned in the read buffer.
  std::string a = requestFrame(1, {});
  std::string b = requestFrame(2, {.messages = {{"user", "second"}}});
  std::string junk_frame = lengthPrefix(9) + std::string(9, 'x');  // 13 bytes: misaligns what follows
  feed(r, junk_frame + b + a);
  const uint8_t* out = nullptr;
  size_t size = 0;
  REQUIRE(r.next(&out, &size) == FrameReader::Next::kFrame);
  CHECK_FALSE(ipc::verifyFrame(out, size).ok());  // garbage body
  for (const std::string* want : {&b, &a}) {
    REQUIRE(r.next(&out, &size) == FrameReader::Next::kFrame);
    CHECK(reinterpret_cast<uintptr_t>(out) % 8 == 0);
    CHECK(std::string(reinterpret_cast<const char*>(out), size) == *want);
    CHECK(ipc::verifyFrame(out, size).ok());
  }
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
