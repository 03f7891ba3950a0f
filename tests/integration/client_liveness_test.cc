// The C++ client against a sidecar that stops answering (SIGSTOP: alive, its socket open, reading
// nothing): every call ends typed and on time, whether it has a deadline or not, a request the
// sidecar does not read holds no other call, a new connection's handshake gives up (and holds no
// call waiting for it past that call's own deadline), and a caller that does not read its stream
// is cut off instead of buffering without bound. Then the client's own rules against a live
// sidecar: a callback that starts the next call as the sidecar dies and comes back, a request too
// large for the connection, a timeout too long for the wire, metadata merged over the defaults,
// and what an error carries.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
  std::string origin;
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
    if (!r.ok()) e = {r.error().code, r.error().retryable, r.error().message, r.error().origin, {}};
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

  REQUIRE(d.pause());
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

  REQUIRE(d.pause());
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
  REQUIRE(d.pause());
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

TEST_CASE("a call made while another call's handshake hangs ends at its own deadline, and later ones share that handshake's failure") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client::Options opt = at(d);
  opt.connect_timeout = 3s;
  client::Client c(opt);  // not connected yet: the first call opens the connection

  REQUIRE(d.pause());  // the kernel still accepts the connection; no HelloAck comes
  Resume resume{d};
  auto first = inBackground([&] { return c.chat(ask("no deadline")); });
  std::this_thread::sleep_for(200ms);  // the first call is in its handshake
  client::ChatRequest bounded = ask("bounded");
  bounded.timeout = 1s;
  auto second = inBackground([&] { return c.chat(bounded); });
  auto third = inBackground([&] { return c.chat(ask("no deadline either")); });

  Ended s = endWithin(second, 8s);
  CHECK((s.code == client::StatusCode::kDeadlineExceeded || s.code == client::StatusCode::kUnavailable));
  CHECK(s.took < 2s);
  Ended f = endWithin(first, 8s);
  CHECK(f.code == client::StatusCode::kUnavailable);
  CHECK(f.retryable);
  // The third waited for the first's handshake and ends with it, rather than try one of its own.
  Ended t = endWithin(third, 8s);
  CHECK(t.code == client::StatusCode::kUnavailable);
  CHECK(t.retryable);
  CHECK(t.message.find("handshake") != std::string::npos);
  CHECK(t.took < 3500ms);

  d.signal(SIGCONT);
  auto again = c.chat(ask("after"));
  REQUIRE(again.ok());
  CHECK(again.value().content == "after");
}

namespace {

// Calls chained from their own ends, as a pipeline or a retry loop built on callbacks does: each
// on_end starts the next call, on the reader thread that delivered the end, until the target
// number of calls succeeded or two in a row failed.
class Chain {
 public:
  explicit Chain(client::Client& c) : c_(c) {}

  // Chains calls until `more` more of them succeeded, or two in a row failed.
  void run(int more) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      target_ = succeeded_ + more;
      failed_in_a_row_ = 0;
      stopped_ = false;
    }
    next();
  }
  // Waits until `n` calls ended in all, each having started the next one if it was to.
  bool waitEnded(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return ended_ >= n; });
  }
  bool waitStopped() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 20s, [&] { return stopped_; });
  }
  int succeeded() {
    std::lock_guard<std::mutex> lock(mu_);
    return succeeded_;
  }
  std::vector<client::Error> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  void next() {
    client::CallEvents events;
    events.on_end = [this](const client::Result<client::Response>& r) { onEnd(r); };
    c_.start(ask("link", R"({"latency_ms": 50})"), std::move(events), false);
  }

  void onEnd(const client::Result<client::Response>& r) {
    bool go;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (r.ok()) {
        ++succeeded_;
        failed_in_a_row_ = 0;
      } else {
        failures_.push_back(r.error());
        ++failed_in_a_row_;
      }
      go = succeeded_ < target_ && failed_in_a_row_ < 2;
    }
    if (go) next();  // may end at once, a nested onEnd
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++ended_;
      if (!go) stopped_ = true;
    }
    cv_.notify_all();
  }

  client::Client& c_;
  std::mutex mu_;
  std::condition_variable cv_;
  int succeeded_ = 0, target_ = 0, failed_in_a_row_ = 0, ended_ = 0;
  bool stopped_ = false;
  std::vector<client::Error> failures_;
};

// Every failure is the retryable UNAVAILABLE of a lost or refused connection.
void checkRetryableUnavailable(const std::vector<client::Error>& failures) {
  for (const client::Error& e : failures) {
    INFO(e.toString());
    CHECK(e.code == client::StatusCode::kUnavailable);
    CHECK(e.retryable);
  }
}

}  // namespace

TEST_CASE("an on_end that starts the next call goes on through its sidecar dying, shutting down and coming back") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  Chain chain(c);

  // Killed with a call in flight: that call's end comes from the reader of the lost connection,
  // and so does the next call, which retires that connection.
  chain.run(1000);
  REQUIRE(chain.waitEnded(3));  // the fourth call was written before the third's on_end returned
  d.signal(SIGKILL);
  REQUIRE(d.waitExit(10s) == 128 + SIGKILL);
  REQUIRE(chain.waitStopped());
  CHECK(chain.failures().size() == 2);
  checkRetryableUnavailable(chain.failures());

  d.restart();
  REQUIRE(d.waitReady());
  int before = chain.succeeded();
  chain.run(5);
  REQUIRE(chain.waitStopped());
  CHECK(chain.succeeded() == before + 5);
  CHECK(c.connectionsOpened() == 2);

  // Shut down (GoAway) while the chain runs: its calls are answered or fail retryably.
  chain.run(1000);
  REQUIRE(chain.waitEnded(chain.succeeded() + static_cast<int>(chain.failures().size()) + 2));
  d.signal(SIGTERM);
  REQUIRE(d.waitExit(10s) == 0);
  REQUIRE(chain.waitStopped());
  checkRetryableUnavailable(chain.failures());

  d.restart();
  REQUIRE(d.waitReady());
  before = chain.succeeded();
  chain.run(5);
  REQUIRE(chain.waitStopped());
  CHECK(chain.succeeded() == before + 5);
}

TEST_CASE("a request larger than the connection's max_frame_size fails INVALID_ARGUMENT here, and the calls beside it go on") {
  auto check = [](DaemonProcess& d, size_t prompt_bytes) {
    REQUIRE(d.waitReady());
    client::Client c(at(d));
    // Written before stream() returns: in flight while the large request is refused.
    client::Stream beside = c.stream(ask("beside", R"({"latency_ms": 200})"));
    auto large = c.chat(ask(std::string(prompt_bytes, 'x')));
    REQUIRE_FALSE(large.ok());
    CHECK(large.error().code == client::StatusCode::kInvalidArgument);
    CHECK_FALSE(large.error().retryable);
    CHECK(large.error().message.find("max_frame_size") != std::string::npos);
    REQUIRE(beside.result().ok());
    CHECK(beside.result().value().content == "beside");
    CHECK(c.connectionsOpened() == 1);
  };
  SECTION("over this client's limit (4 MiB by default)") {
    DaemonProcess d;
    check(d, 5u << 20);
  }
  SECTION("over the sidecar's smaller limit") {
    DaemonProcess d(withServerKeys("max_frame_size = 65536\n"));
    check(d, 100u << 10);
  }
}

TEST_CASE("a timeout past what the wire carries is the longest one, not a wrapped short one") {
  // 2^32 + 50 ms wrapped to 50 ms would end this 300 ms call DEADLINE_EXCEEDED; milliseconds::max()
  // overflowed the clock computing the local deadline.
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  for (auto timeout : {std::chrono::milliseconds((1ll << 32) + 50), std::chrono::milliseconds::max()}) {
    client::ChatRequest req = ask("slow", R"({"latency_ms": 300})");
    req.timeout = timeout;
    auto r = c.chat(req);
    INFO(timeout.count() << " ms: " << (r.ok() ? "ok" : r.error().message));
    REQUIRE(r.ok());
    CHECK(r.value().content == "slow");
    client::Stream s = c.stream(req);
    REQUIRE(s.result().ok());
  }
}

TEST_CASE("a call's metadata is merged over the client's default field by field, tags included") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client::Options opt = at(d);
  opt.default_metadata.tenant = "acme";
  opt.default_metadata.user = "u-default";
  opt.default_metadata.tags = {{"team", "billing"}, {"env", "dev"}};
  client::Client c(opt);
  client::ChatRequest req = ask("q", R"({"echo_metadata": true})");
  client::Metadata call;
  call.request_id = "r-42";
  call.user = "u-call";
  call.tags = {{"env", "prod"}};
  req.metadata = call;
  auto r = c.chat(req);
  REQUIRE(r.ok());
  CHECK(r.value().content ==
        R"({"tenant":"acme","user":"u-call","session":"","request_id":"r-42","prompt_id":"","prompt_version":"",)"
        R"("tags":{"env":"prod","team":"billing"}})");
}

TEST_CASE("an error carries the call's trace id and the guardrails' verdicts") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(ask("a forbidden phrase"));
  REQUIRE_FALSE(r.ok());
  const client::Error& e = r.error();
  CHECK(e.code == client::StatusCode::kPermissionDenied);
  CHECK(e.trace_id.size() == 32);
  REQUIRE_FALSE(e.verdicts.empty());
  CHECK(e.verdicts.back().guardrail == "input_rules");
  CHECK(e.verdicts.back().verdict == 2);  // deny
}

// Destroying the client ended its calls UNAVAILABLE and retryable ("connection lost"); an on_end
// retrying then started a call inside the destructor, whose new heartbeat thread aborted the
// process when the destructor returned.
TEST_CASE("a client destroyed with calls in flight ends them CANCELLED, and an on_end retrying them starts nothing") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  std::mutex mu;
  std::vector<client::Error> errors;
  std::atomic<int> retries{0};
  client::Client* current = nullptr;
  std::function<void(const client::Result<client::Response>&)> on_end = [&](const client::Result<client::Response>& r) {
    if (r.ok()) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      errors.push_back(r.error());
    }
    if (r.error().retryable && retries++ < 3) {
      client::CallEvents again;
      again.on_end = on_end;
      current->start(ask("again", R"({"latency_ms": 5000})"), again, false);
    }
  };
  {
    client::Client c(at(d));
    current = &c;
    client::CallEvents events;
    events.on_end = on_end;
    c.start(ask("in flight", R"({"latency_ms": 5000})"), events, false);
    std::this_thread::sleep_for(200ms);  // the sidecar has it
  }
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == client::StatusCode::kCancelled);
  CHECK_FALSE(errors[0].retryable);
  CHECK(retries == 0);
}

// The request carried the whole timeout however long the handshake took, so the sidecar worked
// on past the time this client gave up (and then cancelled it).
TEST_CASE("the sidecar gets what is left of a call's timeout after a slow handshake, and ends it at that deadline") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  client::Client::Options opt = at(d);
  opt.connect_timeout = 3s;
  client::Client c(opt);
  REQUIRE(d.pause());  // the kernel accepts the connection; the HelloAck waits
  Resume resume{d};
  client::ChatRequest slow = ask("slow", R"({"latency_ms": 5000})");
  slow.timeout = 2s;
  auto call = inBackground([&] { return c.chat(slow); });
  std::this_thread::sleep_for(800ms);
  d.signal(SIGCONT);
  Ended e = endWithin(call, 8s);
  INFO(e.message);
  CHECK(e.code == client::StatusCode::kDeadlineExceeded);
  // The sidecar's own end: a sidecar given the whole 2 s would still be working when the client
  // gave up (client-side DEADLINE_EXCEEDED) and then cancelled it (CANCELLED).
  CHECK(e.origin != "client");
  CHECK(e.took < 3500ms);
}
