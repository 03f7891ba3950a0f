// The C++ client against a sidecar that stops answering (SIGSTOP: alive, its socket open, reading
// nothing): every call ends typed and on time, whether it has a deadline or not, a request the
// sidecar does not read holds no other call, a new connection's handshake gives up, and a caller
// that does not read its stream is cut off instead of buffering without bound.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <outrigger/client.h>

#include "support/daemon_process.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// The basic config with its [server] table opened by `server_keys`.
std::string withServerKeys(const std::string& server_keys) {
  std::string base = basicConfig();
  return "[server]\n" + server_keys + base.substr(std::string("[server]\n").size());
}

struct Ended {
  client::StatusCode code = client::StatusCode::kOk;
  bool retryable = false;
  std::string message;
  Clock::duration took{};
};

// Runs `call` on its own thread; the test waits for it at most `limit` (a call the client lets
// hang fails the test instead of hanging it, once the daemon is resumed).
template <class F>
std::future<Ended> inBackground(F call) {
  return std::async(std::launch::async, [call] {
    Clock::time_point t0 = Clock::now();
    client::Result<client::Response> r = call();
    Ended e;
    if (!r.ok()) e = {r.error().code, r.error().retryable, r.error().message, {}};
    e.took = Clock::now() - t0;
    return e;
  });
}

// The call's end, which must come within `limit`.
Ended endWithin(std::future<Ended>& f, std::chrono::milliseconds limit) {
  REQUIRE(f.wait_for(limit) == std::future_status::ready);
  return f.get();
}

// Resumes the daemon when the test leaves, however it leaves: calls a broken client let hang
// then end, and so does the test.
struct Resume {
  DaemonProcess& d;
  ~Resume() { d.signal(SIGCONT); }
};

}  // namespace

TEST_CASE("a stopped sidecar: calls end at their deadline, a call with none by the heartbeat, and new connections give up") {
  DaemonProcess d(withServerKeys("heartbeat_ms = 1000\n"));
  REQUIRE(d.waitReady());
  client::Client::Options opt = at(d);
  opt.connect_timeout = 300ms;
  client::Client c(opt);
  REQUIRE(c.chat(ask("warm")).ok());  // connected: the heartbeat is known

  d.signal(SIGSTOP);
  Resume resume{d};
  client::ChatRequest bounded = ask("bounded");
  bounded.timeout = 300ms;
  auto unary = inBackground([&] { return c.chat(bounded); });
  auto streamed = inBackground([&] {
    client::Stream s = c.stream(bounded);
    client::Chunk chunk;
    while (s.next(&chunk)) {
    }
    return s.result();
  });
  auto unbounded = inBackground([&] { return c.chat(ask("no deadline")); });
  auto fresh = inBackground([&]() -> client::Result<client::Response> {
    client::Client other(opt);
    if (auto err = other.connect()) return *err;
    return client::Response{};
  });
  // A first call's handshake does not outlive the call's own deadline (connect_timeout is 5 s).
  auto fresh_call = inBackground([&] {
    client::Client other(at(d));
    return other.chat(bounded);
  });

  Ended u = endWithin(unary, 3s);
  CHECK(u.code == client::StatusCode::kDeadlineExceeded);
  CHECK(u.took < 2s);
  Ended s = endWithin(streamed, 3s);
  CHECK(s.code == client::StatusCode::kDeadlineExceeded);
  CHECK(s.took < 2s);
  Ended f = endWithin(fresh, 3s);
  CHECK(f.code == client::StatusCode::kUnavailable);
  CHECK(f.retryable);
  CHECK(f.message.find("handshake") != std::string::npos);
  Ended fc = endWithin(fresh_call, 3s);
  CHECK(fc.code == client::StatusCode::kUnavailable);
  CHECK(fc.took < 1500ms);
  // Nothing read for three heartbeats (3 s) drops the connection.
  Ended n = endWithin(unbounded, 8s);
  CHECK(n.code == client::StatusCode::kUnavailable);
  CHECK(n.retryable);
  CHECK(n.message.find("heartbeat") != std::string::npos);
  CHECK(n.took >= 2500ms);

  d.signal(SIGCONT);
  auto again = c.chat(ask("after"));
  REQUIRE(again.ok());
  CHECK(again.value().content == "after");
  CHECK(c.connectionsOpened() == 2);
}

TEST_CASE("a request the stopped sidecar cannot take holds no other call past its deadline") {
  DaemonProcess d(withServerKeys("heartbeat_ms = 0\n"));  // only the deadlines end these calls
  REQUIRE(d.waitReady());
  client::Client::Options opt = at(d);
  opt.write_timeout = 4s;
  client::Client c(opt);
  REQUIRE(c.chat(ask("warm")).ok());

  d.signal(SIGSTOP);
  Resume resume{d};
  client::ChatRequest big = ask(std::string(3u << 20, 'x'));  // far more than the socket buffers
  big.timeout = 500ms;
  auto writer = inBackground([&] { return c.chat(big); });
  std::this_thread::sleep_for(100ms);  // the big frame holds the connection's write lock
  client::ChatRequest small = ask("small");
  small.timeout = 300ms;
  auto behind = inBackground([&] { return c.chat(small); });

  Ended w = endWithin(writer, 3s);
  CHECK(w.code == client::StatusCode::kDeadlineExceeded);
  CHECK(w.took < 1500ms);
  Ended b = endWithin(behind, 3s);
  CHECK((b.code == client::StatusCode::kDeadlineExceeded || b.code == client::StatusCode::kUnavailable));
  CHECK(b.took < 1500ms);

  d.signal(SIGCONT);
  auto again = c.chat(ask("after"));  // the half-written frame took its connection with it
  REQUIRE(again.ok());
  CHECK(again.value().content == "after");

  // A call sent whole before a big one: at its deadline its Cancel does not wait for the big
  // write, which has no deadline of its own and is given up at write_timeout.
  d.signal(SIGSTOP);
  client::ChatRequest sent_first = ask("sent first");
  sent_first.timeout = 300ms;
  auto waiting = inBackground([&] { return c.chat(sent_first); });
  std::this_thread::sleep_for(50ms);
  auto unbounded_writer = inBackground([&] { return c.chat(ask(std::string(3u << 20, 'z'))); });
  Ended sf = endWithin(waiting, 3s);
  CHECK(sf.code == client::StatusCode::kDeadlineExceeded);
  CHECK(sf.took < 1500ms);
  Ended uw = endWithin(unbounded_writer, 8s);
  CHECK(uw.code == client::StatusCode::kUnavailable);
  CHECK(uw.retryable);
}

TEST_CASE("a stream its caller does not read is cancelled past max_buffered_stream_bytes, and the connection goes on") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client::Options opt = at(d);
  opt.max_buffered_stream_bytes = 4096;
  client::Client c(opt);
  client::ChatRequest req = ask(std::string(48 * 1024, 'y'), R"({"chunks": 48})");
  req.timeout = 10s;
  client::Stream s = c.stream(req);
  std::this_thread::sleep_for(500ms);  // the whole answer arrives meanwhile, unread
  client::Chunk chunk;
  CHECK_FALSE(s.next(&chunk));  // its chunks were dropped with it
  REQUIRE_FALSE(s.result().ok());
  CHECK(s.result().error().code == client::StatusCode::kResourceExhausted);
  CHECK(s.result().error().message.find("not read fast enough") != std::string::npos);

  auto after = c.chat(ask("after"));
  REQUIRE(after.ok());
  CHECK(after.value().content == "after");
  CHECK(c.connectionsOpened() == 1);
}

TEST_CASE("time the reader spends in a slow callback is not the sidecar's silence") {
  DaemonProcess d(withServerKeys("heartbeat_ms = 100\n"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  REQUIRE(c.chat(ask("warm")).ok());
  std::promise<client::Result<client::Response>> ended;
  client::CallEvents events;
  events.on_chunk = [](const client::Chunk&) { std::this_thread::sleep_for(800ms); };  // 8 intervals
  events.on_end = [&](const client::Result<client::Response>& r) { ended.set_value(r); };
  c.start(ask("slow reader", R"({"chunks": 2})"), std::move(events));
  auto end = ended.get_future();
  REQUIRE(end.wait_for(10s) == std::future_status::ready);
  auto r = end.get();
  CHECK(r.ok());
  CHECK(c.connectionsOpened() == 1);
}
