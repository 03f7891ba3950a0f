// The C++ client and a GoAway whose last_stream_id leaves calls behind: the sidecar never took
// them, so they go out again on a new connection, as in the other SDKs. A GoAway that races calls
// cannot be timed against the real daemon, so a fake sidecar on a Unix socket plays it: it speaks
// the handshake, reads requests, and answers or turns them away as each test case scripts.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "ipc/frame_writer.h"
#include "outrigger_generated.h"
#include "support/frames.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

// What went wrong on the fake's thread, where Catch's assertions may not run; the test checks it.
class Problems {
 public:
  bool check(bool ok, const std::string& what) {
    if (!ok) {
      std::lock_guard<std::mutex> lock(mu_);
      list_.push_back(what);
    }
    return ok;
  }
  std::vector<std::string> list() {
    std::lock_guard<std::mutex> lock(mu_);
    return list_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> list_;
};

// One accepted connection of the fake sidecar.
class FakeConn {
 public:
  explicit FakeConn(int fd) : fd_(fd) {}
  ~FakeConn() { ::close(fd_); }

  // The next frame, or nullopt on EOF or after `timeout`.
  std::optional<AlignedFrame> read(std::chrono::milliseconds timeout = 5s) {
    std::string prefix(4, '\0');
    if (!readExact(prefix.data(), 4, timeout)) return std::nullopt;
    uint32_t size = 0;
    std::memcpy(&size, prefix.data(), 4);
    std::string bytes = prefix + std::string(size, '\0');
    if (!readExact(bytes.data() + 4, size, timeout)) return std::nullopt;
    return AlignedFrame(bytes);
  }
  // The next Request (frames of other kinds are noted), or nullopt.
  const wire::Request* readRequest(uint64_t* stream_id) {
    while ((frame_ = read())) {
      const wire::Frame* f = wire::GetSizePrefixedFrame(frame_->data());
      if (f->body_type() == wire::Body::Cancel) cancels.push_back(f->stream_id());
      if (f->body_type() != wire::Body::Request) continue;
      *stream_id = f->stream_id();
      return f->body_as_Request();
    }
    return nullptr;
  }
  // Reads the Hello and answers a HelloAck (announcing a heartbeat of `heartbeat_ms`; 0: none).
  bool handshake(uint32_t heartbeat_ms = 0) {
    auto hello = read();
    if (!hello || wire::GetSizePrefixedFrame(hello->data())->body_type() != wire::Body::Hello) return false;
    ipc::HelloAckInfo ack;
    ack.max_frame_size = 4u << 20;
    ack.max_concurrent_streams = 100;
    ack.heartbeat_ms = heartbeat_ms;
    ack.features = static_cast<uint64_t>(wire::Feature::Streaming) | static_cast<uint64_t>(wire::Feature::Cancel) |
                   static_cast<uint64_t>(wire::Feature::GoAway);
    std::string out;
    writer_.helloAck(&out, ack);
    return write(out);
  }
  bool goAway(uint64_t last_stream_id) {
    std::string out;
    writer_.goAway(&out, last_stream_id, "test", 0);
    return write(out);
  }
  bool end(uint64_t stream_id, Code code, const std::string& content) {
    ResponseEndInfo e;
    e.code = code;
    e.content = content;
    e.finish_reason = "stop";
    e.origin = "fake";
    std::string out;
    writer_.responseEnd(&out, stream_id, e);
    return write(out);
  }
  // A frame that names a body of `type` and carries none, which FlatBuffers' verifier passes.
  bool bodyless(uint64_t stream_id, wire::Body type) {
    flatbuffers::FlatBufferBuilder b;
    b.FinishSizePrefixed(wire::CreateFrame(b, stream_id, type, 0), wire::FrameIdentifier());
    return write(std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
  }
  // Waits for a Cancel of `stream_id`.
  bool awaitCancel(uint64_t stream_id) {
    while (auto f = read()) {
      const wire::Frame* frame = wire::GetSizePrefixedFrame(f->data());
      if (frame->body_type() == wire::Body::Cancel && frame->stream_id() == stream_id) return true;
    }
    return false;
  }

  std::vector<uint64_t> cancels;

 private:
  bool write(const std::string& bytes) { return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size()); }
  bool readExact(char* p, size_t n, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (n) {
      pollfd pfd{fd_, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      if (left <= 0 || ::poll(&pfd, 1, int(left)) <= 0) return false;
      ssize_t k = ::recv(fd_, p, n, 0);
      if (k <= 0) return false;
      p += k;
      n -= size_t(k);
    }
    return true;
  }

  int fd_;
  ipc::FrameWriter writer_;
  std::optional<AlignedFrame> frame_;  // the frame readRequest's answer points into
};

// Accepts connections on its own thread and hands each, with its index from 0, to `serve` on a
// thread of its own.
class FakeSidecar {
 public:
  using Serve = std::function<void(FakeConn&, int index)>;

  explicit FakeSidecar(Serve serve) : serve_(std::move(serve)) {
    char dir[] = "/tmp/outrigger-goaway-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    dir_ = dir;
    path_ = dir_ + "/sock";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    thread_ = std::thread([this] { acceptLoop(); });
  }
  ~FakeSidecar() {
    stop_ = true;
    thread_.join();
    for (std::thread& t : served_) t.join();
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  client::Client::Options options() const {
    client::Client::Options o;
    o.socket_path = path_;
    o.verify_server = false;
    o.connect_timeout = 5s;
    return o;
  }
  int accepted() const { return accepted_.load(); }

 private:
  void acceptLoop() {
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      served_.emplace_back([this, c, index = accepted_++] {
        FakeConn conn(c);
        serve_(conn, index);
      });
    }
  }

  Serve serve_;
  std::string dir_, path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::vector<std::thread> served_;  // the accept thread's only
};

std::string userText(const wire::Request* r) { return r->messages()->Get(0)->content()->str(); }

// Each call's end, by the order the calls were started.
struct Ends {
  std::mutex mu;
  std::condition_variable cv;
  std::map<int, client::Result<client::Response>> by_call;
  size_t total = 0;  // ends delivered, a call's second one included

  client::CallEvents events(int n) {
    client::CallEvents ev;
    ev.on_end = [this, n](const client::Result<client::Response>& r) {
      std::lock_guard<std::mutex> lock(mu);
      by_call.emplace(n, r);
      ++total;
      cv.notify_all();
    };
    return ev;
  }
  bool awaitCount(size_t count) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, 10s, [&] { return by_call.size() >= count; });
  }
};

}  // namespace

TEST_CASE("calls a GoAway says the sidecar never took go out again on a new connection, in the order they were sent") {
  Problems p;
  std::promise<std::vector<std::string>> resent;  // the texts the second connection received, in order
  FakeSidecar fake([&](FakeConn& c, int index) {
    if (!p.check(c.handshake(), "handshake")) return;
    if (index == 0) {
      // Three calls arrive; the sidecar takes the first only, then closes as an idle close does.
      std::vector<uint64_t> ids;
      uint64_t sid = 0;
      while (ids.size() < 3 && c.readRequest(&sid)) ids.push_back(sid);
      if (!p.check(ids.size() == 3, "three requests on the first connection")) return;
      p.check(c.goAway(ids[0]) && c.end(ids[0], Code::kOk, "taken"), "GoAway, then the first call's end");
      return;
    }
    std::vector<std::string> texts;
    uint64_t sid = 0;
    while (texts.size() < 2) {
      const wire::Request* r = c.readRequest(&sid);
      if (!p.check(r != nullptr, "two requests on the second connection")) return;
      texts.push_back(userText(r));
      c.end(sid, Code::kOk, "again: " + texts.back());
    }
    resent.set_value(texts);
    c.read(2s);  // until the client closes
  });
  client::Client client(fake.options());
  Ends ends;
  std::vector<uint64_t> ids;
  for (int n : {0, 1, 2}) ids.push_back(client.start(ask("call " + std::to_string(n)), ends.events(n), false));
  for (uint64_t id : ids) CHECK(id != 0);
  REQUIRE(ends.awaitCount(3));
  for (auto& [n, r] : ends.by_call) {
    INFO("call " << n << ": " << (r.ok() ? r.value().content : r.error().toString()));
    REQUIRE(r.ok());
  }
  CHECK(ends.by_call.at(0).value().content == "taken");
  CHECK(ends.by_call.at(1).value().content == "again: call 1");
  CHECK(ends.by_call.at(2).value().content == "again: call 2");
  auto texts = resent.get_future();
  REQUIRE(texts.wait_for(5s) == std::future_status::ready);
  CHECK(texts.get() == std::vector<std::string>{"call 1", "call 2"});
  CHECK(client.connectionsOpened() == 2);
  CHECK(p.list().empty());
}

TEST_CASE("a call cancelled before a GoAway hands it back ends CANCELLED and is not sent again") {
  Problems p;
  std::promise<void> cancel_seen;
  FakeSidecar fake([&](FakeConn& c, int index) {
    if (!p.check(index == 0, "no second connection") || !p.check(c.handshake(), "handshake")) return;
    uint64_t sid = 0;
    if (!p.check(c.readRequest(&sid) != nullptr && c.awaitCancel(sid), "the request, then its Cancel")) return;
    cancel_seen.set_value();
    p.check(c.goAway(sid - 1), "GoAway");  // the cancelled call was not taken either
    c.read(2s);
  });
  client::Client client(fake.options());
  Ends ends;
  uint64_t id = client.start(ask("never taken"), ends.events(0), false);
  REQUIRE(id != 0);
  client.cancel(id);
  REQUIRE(cancel_seen.get_future().wait_for(5s) == std::future_status::ready);
  REQUIRE(ends.awaitCount(1));
  const auto& r = ends.by_call.at(0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == client::StatusCode::kCancelled);
  CHECK(r.error().origin == "client");
  std::this_thread::sleep_for(100ms);
  CHECK(fake.accepted() == 1);
  CHECK(client.connectionsOpened() == 1);
  CHECK(p.list().empty());
}

TEST_CASE("a call cancelled while it waits for its new connection is sent there with its Cancel, under the same call id") {
  std::promise<void> second_accepted;
  std::promise<void> cancelled;
  std::promise<uint64_t> cancel_stream;  // the stream id the second connection saw cancelled
  Problems p;
  FakeSidecar fake([&](FakeConn& c, int index) {
    uint64_t sid = 0;
    if (index == 0) {
      if (p.check(c.handshake(), "handshake") && p.check(c.readRequest(&sid) != nullptr, "the request")) {
        p.check(c.goAway(sid - 1), "GoAway");
      }
      return;
    }
    // The client's reader is in this handshake, sending the call again; the caller cancels now.
    second_accepted.set_value();
    if (!p.check(cancelled.get_future().wait_for(5s) == std::future_status::ready, "the caller's cancel") ||
        !p.check(c.handshake(), "second handshake")) {
      return;
    }
    const wire::Request* r = c.readRequest(&sid);
    if (!p.check(r != nullptr && userText(r) == "cancel me", "the same request again")) return;
    if (!p.check(c.awaitCancel(sid), "its Cancel")) return;
    cancel_stream.set_value(sid);
    c.end(sid, Code::kCancelled, "");
    c.read(1s);
  });
  client::Client client(fake.options());
  Ends ends;
  uint64_t id = client.start(ask("cancel me"), ends.events(0), false);
  REQUIRE(id != 0);
  REQUIRE(second_accepted.get_future().wait_for(5s) == std::future_status::ready);
  client.cancel(id);
  cancelled.set_value();
  auto sid = cancel_stream.get_future();
  REQUIRE(sid.wait_for(5s) == std::future_status::ready);
  CHECK(sid.get() > 1);  // a new stream id on the new connection
  REQUIRE(ends.awaitCount(1));
  REQUIRE_FALSE(ends.by_call.at(0).ok());
  CHECK(ends.by_call.at(0).error().code == client::StatusCode::kCancelled);
  CHECK(p.list().empty());
}

TEST_CASE("a call every sidecar turns away ends a retryable UNAVAILABLE after three more tries") {
  Problems p;
  FakeSidecar fake([&](FakeConn& c, int) {
    uint64_t sid = 0;
    if (p.check(c.handshake(), "handshake") && p.check(c.readRequest(&sid) != nullptr, "the request")) {
      p.check(c.goAway(sid - 1), "GoAway");
    }
  });
  client::Client client(fake.options());
  auto r = client.chat(ask("nobody takes it"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == client::StatusCode::kUnavailable);
  CHECK(r.error().retryable);
  CHECK(r.error().message.find("without taking the call") != std::string::npos);
  CHECK(client.connectionsOpened() == 4);
  CHECK(p.list().empty());
}

TEST_CASE("a client destroyed while a GoAway's calls wait for their new connection ends them CANCELLED, once") {
  std::promise<void> second_accepted;
  std::promise<void> destroying;
  Problems p;
  FakeSidecar fake([&](FakeConn& c, int index) {
    uint64_t sid = 0;
    if (index == 0) {
      // A heartbeat is announced, so the client runs its heartbeat thread; a call stays on this
      // connection (taken), and the second is handed back.
      if (!p.check(c.handshake(1000), "handshake")) return;
      uint64_t first = 0;
      if (!p.check(c.readRequest(&first) != nullptr && c.readRequest(&sid) != nullptr, "two requests")) return;
      p.check(c.goAway(first), "GoAway");
      while (c.read(10s)) {
      }  // open until the client closes it
      return;
    }
    // The client's reader waits in this handshake while the client is destroyed.
    second_accepted.set_value();
    p.check(destroying.get_future().wait_for(5s) == std::future_status::ready, "the destructor started");
    std::this_thread::sleep_for(200ms);
    c.handshake(1000);
    c.read(1s);
  });
  Ends ends;
  auto client = std::make_unique<client::Client>(fake.options());
  REQUIRE(client->start(ask("taken"), ends.events(0), false) != 0);
  REQUIRE(client->start(ask("handed back"), ends.events(1), false) != 0);
  REQUIRE(second_accepted.get_future().wait_for(5s) == std::future_status::ready);
  std::thread destroyer([&] {
    destroying.set_value();
    client.reset();
  });
  destroyer.join();
  REQUIRE(ends.awaitCount(2));
  std::this_thread::sleep_for(100ms);
  std::lock_guard<std::mutex> lock(ends.mu);
  REQUIRE(ends.by_call.size() == 2);
  CHECK(ends.total == 2);
  for (auto& [n, r] : ends.by_call) {
    INFO("call " << n << ": " << (r.ok() ? r.value().content : r.error().toString()));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == client::StatusCode::kCancelled);
  }
  CHECK(p.list().empty());
}

// The verifier passes a frame whose union names a body and holds none; the client read the
// missing body and crashed the process it runs in.
TEST_CASE("a frame that names a body and carries none drops the connection: the call ends UNAVAILABLE, the process lives") {
  for (wire::Body type : {wire::Body::ResponseEnd, wire::Body::ResponseChunk, wire::Body::ResponseStart}) {
    INFO(int(type));
    Problems problems;
    FakeSidecar fake([&](FakeConn& conn, int index) {
      if (!problems.check(conn.handshake(), "handshake")) return;
      uint64_t id = 0;
      if (!conn.readRequest(&id)) return;
      if (index == 0) {
        problems.check(conn.bodyless(id, type), "bodyless frame");
        conn.read(2s);  // until the client drops the connection
      } else {
        conn.end(id, Code::kOk, "answer");
      }
    });
    client::Client::Options o = fake.options();
    client::Client c(o);
    auto r = c.chat(ask("hello"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == client::StatusCode::kUnavailable);
    CHECK(problems.list().empty());
  }
}
