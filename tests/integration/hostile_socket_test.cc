// The socket front against hostile or broken local callers, through the real daemon: streams
// that end typed when their connection fails, stream-level refusals, timeouts, memory and
// connection bounds, the client's frame size, and text that is not UTF-8.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <regex>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "outrigger_generated.h"
#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

const wire::Frame* frameOf(const AlignedFrame& f) { return wire::GetSizePrefixedFrame(f.data()); }

std::string lengthPrefix(uint32_t n) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &n, 4);
  return s;
}

bool handshake(RawConnection& raw, uint32_t max_frame_size = 4u << 20) {
  if (!raw.send(helloFrame(1, max_frame_size))) return false;
  auto ack = raw.readFrame();
  return ack && frameOf(*ack)->body_type() == wire::Body::HelloAck;
}

// A frame whose own table is sound but whose Request body is not: a Ping table read as a Request
// makes its 8-byte value a string offset far outside the frame.
std::string corruptRequestFrame(uint64_t stream_id) {
  flatbuffers::FlatBufferBuilder b;
  auto ping = wire::CreatePing(b, 0x7ffffff0);
  wire::FrameBuilder fb(b);
  fb.add_stream_id(stream_id);
  fb.add_body_type(wire::Body::Request);
  fb.add_body(ping.Union());
  b.FinishSizePrefixed(fb.Finish(), wire::FrameIdentifier());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

std::string hang() { return R"({"mock":{"hang":true}})"; }

const char* kAdmin = "[admin]\nlisten = \"127.0.0.1:0\"\n";

// The basic config with an admin listener and more [server] keys.
std::string withServer(const std::string& server_keys) {
  std::string base = basicConfig("mode = \"echo\"\nallow_request_overrides = true", kAdmin);
  return "[server]\n" + server_keys + base.substr(std::string("[server]\n").size());
}

}  // namespace

TEST_CASE("a corrupt frame after 999 in-flight requests ends each of them typed first, saying which reached a provider") {
  // One request reaches the (hanging) provider; the rest wait in the route's limit queue.
  DaemonProcess d(basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                              "[routes.limited]\ntargets = [{provider = \"mock\", max_concurrent = 1}]\n"
                              "limits = {on_limit = \"queue\", queue_max = 2000, queue_timeout_ms = 60000}\n"));
  REQUIRE(d.waitReady());
  RawConnection raw(d.socket());
  REQUIRE(handshake(raw));
  constexpr int kStreams = 999;
  std::string batch;
  for (int i = 1; i <= kStreams; ++i) batch += requestFrame(i, {.model = "limited", .extra_json = hang()});
  REQUIRE(raw.send(batch));
  std::this_thread::sleep_for(300ms);  // every request is in flight or queued
  REQUIRE(raw.send(lengthPrefix(512u << 20)));  // a length over the limit: connection-fatal

  int ends = 0, reached = 0, retryable = 0;
  bool error_seen = false;
  while (auto f = raw.readFrame()) {
    const wire::Frame* frame = frameOf(*f);
    if (frame->body_type() == wire::Body::Error) {
      CHECK(frame->body_as_Error()->status() == wire::Status::RESOURCE_EXHAUSTED);
      error_seen = true;
      break;
    }
    REQUIRE(frame->body_type() == wire::Body::ResponseEnd);
    const auto* end = frame->body_as_ResponseEnd();
    CHECK(end->status() == wire::Status::UNAVAILABLE);
    CHECK(end->message()->str().find("connection closed by the server") != std::string::npos);
    CHECK(end->retryable() == !end->reached_provider());  // a retry may not run it twice
    ++ends;
    reached += end->reached_provider();
    retryable += end->retryable();
  }
  CHECK(error_seen);
  CHECK(ends == kStreams);
  CHECK(reached == 1);
  CHECK(retryable == kStreams - 1);
  CHECK(raw.closedByPeer());
  CHECK(d.alive());
}

TEST_CASE("a bad request body or a reused stream id ends only that stream, and the connection keeps serving") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  RawConnection raw(d.socket());
  REQUIRE(handshake(raw));
  auto next = [&]() { return raw.readFrame(); };

  REQUIRE(raw.send(requestFrame(1, {.extra_json = hang()})));
  REQUIRE(raw.send(corruptRequestFrame(2)));
  auto f = next();
  REQUIRE(f);
  CHECK(frameOf(*f)->stream_id() == 2);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::INVALID_ARGUMENT);

  // Stream 1 is in flight: reusing its id ends it, once, with INVALID_ARGUMENT.
  REQUIRE(raw.send(requestFrame(1, {})));
  f = next();
  REQUIRE(f);
  CHECK(frameOf(*f)->stream_id() == 1);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::INVALID_ARGUMENT);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->message()->str().find("already in use") != std::string::npos);

  REQUIRE(raw.send(requestFrame(3, {.messages = {{"user", "fine"}}})));
  f = next();
  REQUIRE(f);
  CHECK(frameOf(*f)->stream_id() == 3);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::OK);

  // A finished id, and an id below the highest seen, are refused.
  for (uint64_t sid : {3, 2}) {
    REQUIRE(raw.send(requestFrame(sid, {})));
    f = next();
    REQUIRE(f);
    CHECK(frameOf(*f)->stream_id() == sid);
    CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::INVALID_ARGUMENT);
    CHECK(frameOf(*f)->body_as_ResponseEnd()->message()->str().find("already used") != std::string::npos);
  }

  // Text that is not UTF-8 in metadata costs its stream, not the connection.
  REQUIRE(raw.send(requestFrame(4, {.tenant = "team-\xff\xfe"})));
  f = next();
  REQUIRE(f);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::INVALID_ARGUMENT);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->message()->str() == "metadata.tenant is not valid UTF-8");

  // And in any text of the request: a message, a tool's schema (each would reach provider bodies,
  // records and exporters as JSON text).
  REQUIRE(raw.send(requestFrame(5, {.messages = {{"system", "be brief"}, {"user", "caf\xe9"}}})));
  f = next();
  REQUIRE(f);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::INVALID_ARGUMENT);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->message()->str() == "messages[1].content is not valid UTF-8");
  REQUIRE(raw.send(requestFrame(6, {.tools = {{"lookup", "{\"description\": \"\xc3\"}"}}})));
  f = next();
  REQUIRE(f);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::INVALID_ARGUMENT);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->message()->str() == "params.tools[0].parameters_json is not valid UTF-8");

  // 20,000 messages pointing at one 100 KB content: 2 GB to read from a 0.7 MB frame.
  REQUIRE(raw.send(sharedContentFrame(8, 20000, 100000)));
  f = next();
  REQUIRE(f);
  CHECK(frameOf(*f)->stream_id() == 8);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::INVALID_ARGUMENT);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->message()->str().find("fields sharing strings") != std::string::npos);

  REQUIRE(raw.send(pingFrame(9)));
  f = next();
  REQUIRE(f);
  CHECK(frameOf(*f)->body_type() == wire::Body::Pong);
}

TEST_CASE("silent, half-sent and idle connections are closed on time and counted, and SDK clients reconnect") {
  DaemonProcess timed(withServer("handshake_timeout_ms = 200\nframe_timeout_ms = 300\nidle_timeout_ms = 400\n"));
  REQUIRE(timed.waitReady());

  auto closedWith = [](RawConnection& raw, wire::Body type) {
    auto f = raw.readFrame(3s);
    return f && frameOf(*f)->body_type() == type && raw.closedByPeer(3s);
  };
  auto t0 = std::chrono::steady_clock::now();
  RawConnection silent(timed.socket());
  RawConnection half(timed.socket());
  RawConnection idle(timed.socket());
  REQUIRE(handshake(half));
  REQUIRE(handshake(idle));
  std::string f = requestFrame(1, {});
  REQUIRE(half.send(f.substr(0, f.size() / 2)));
  CHECK(closedWith(silent, wire::Body::Error));
  CHECK(closedWith(half, wire::Body::Error));
  CHECK(closedWith(idle, wire::Body::GoAway));
  // Not before the idle timeout (less the loop clock's millisecond granularity).
  CHECK(std::chrono::steady_clock::now() - t0 >= 398ms);

  client::Client c(at(timed));
  REQUIRE(c.chat(ask("before")).ok());
  std::this_thread::sleep_for(700ms);  // the daemon closes the idle connection meanwhile
  auto again = c.chat(ask("after"));
  REQUIRE(again.ok());
  CHECK(again.value().content == "after");
  CHECK(c.connectionsOpened() == 2);

  CHECK(adminMetric(timed, "outrigger_socket_handshake_timeouts_total") >= 1);
  CHECK(adminMetric(timed, "outrigger_socket_frame_timeouts_total") == 1);
  CHECK(adminMetric(timed, "outrigger_socket_idle_closes_total") >= 2);
}

TEST_CASE("partly received frames share a bounded budget, and the connection past it is refused typed") {
  DaemonProcess d(withServer("partial_frame_memory = 1048576\n"));
  REQUIRE(d.waitReady());
  RawConnection first(d.socket()), second(d.socket());
  REQUIRE(handshake(first));
  REQUIRE(handshake(second));
  // The first partial frame takes most of the budget: 900 KiB, or the whole 1 MiB when its buffer
  // doubled past 512 KiB (which depends on how the bytes arrived)...
  REQUIRE(first.send(lengthPrefix(3u << 20) + std::string(900 * 1024, 'x')));
  for (int i = 0; i < 1000 && adminMetric(d, "outrigger_socket_partial_frame_bytes") < 900 * 1024; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(adminMetric(d, "outrigger_socket_partial_frame_bytes") >= 900 * 1024);
  REQUIRE(adminMetric(d, "outrigger_socket_partial_frame_bytes") <= (1 << 20));
  // ...so the second cannot hold its 200 KiB. The daemon may refuse and close before the last of
  // them is written, so the send itself can fail; the refusal is read either way.
  (void)second.send(lengthPrefix(3u << 20) + std::string(200 * 1024, 'y'));
  auto f = second.readFrame();
  REQUIRE(f);
  REQUIRE(frameOf(*f)->body_type() == wire::Body::Error);
  CHECK(frameOf(*f)->body_as_Error()->status() == wire::Status::RESOURCE_EXHAUSTED);
  CHECK(second.closedByPeer());
  CHECK(adminMetric(d, "outrigger_socket_memory_refusals_total") == 1);
  first.close();  // its share comes back
  for (int i = 0; i < 100 && adminMetric(d, "outrigger_socket_partial_frame_bytes") != 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(adminMetric(d, "outrigger_socket_partial_frame_bytes") == 0);
  client::Client c(at(d));
  CHECK(c.chat(ask("served")).ok());
}

TEST_CASE("a peer over max_connections_per_peer is refused at accept and counted") {
  DaemonProcess d(withServer("max_connections_per_peer = 3\n"));
  REQUIRE(d.waitReady());
  // waitReady's probe has gone
  REQUIRE(awaitAdminMetric(d, "outrigger_socket_connections", [](double v) { return v == 0; }) == 0);
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawConnection>(d.socket()));
    REQUIRE(handshake(*held.back()));
  }
  RawConnection extra(d.socket());
  extra.send(helloFrame());
  CHECK(extra.closedByPeer(3s));
  CHECK(adminMetric(d, "outrigger_socket_connections_refused_total{reason=\"peer_limit\"}") == 1);
  held.pop_back();
  REQUIRE(awaitAdminMetric(d, "outrigger_socket_connections", [](double v) { return v == 2; }) == 2);
  RawConnection again(d.socket());
  CHECK(handshake(again));
}

TEST_CASE("a flood of connections cannot take the descriptors the admin server needs") {
  // 256 descriptors: 192 for client connections, the rest kept back.
  DaemonProcess d(basicConfig("mode = \"echo\"", kAdmin), "", "ulimit -n 256; ");
  REQUIRE(d.waitReady());
  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < 260; ++i) flood.push_back(std::make_unique<RawConnection>(d.socket()));
  CHECK(adminMetric(d, "outrigger_connection_descriptor_budget") == 192);
  CHECK(awaitAdminMetric(d, "outrigger_socket_connections_refused_total{reason=\"descriptor_limit\"}",
                         [](double v) { return v >= 260 - 192; }) >= 260 - 192);
  CHECK(adminMetric(d, "outrigger_socket_connections") <= 192);
  CHECK(d.log().find("file descriptors: limit 256") != std::string::npos);
  flood.clear();
  CHECK(awaitAdminMetric(d, "outrigger_socket_connections", [](double v) { return v == 0; }) == 0);
  client::Client c(at(d));
  CHECK(c.chat(ask("room again")).ok());
}

TEST_CASE("the client's max_frame_size holds: long chunks are split, a unary answer too large is refused typed") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  std::string text;
  for (int i = 0; text.size() < 5000; ++i) text += "word" + std::to_string(i) + " é ";
  {
    RawConnection raw(d.socket());
    REQUIRE(handshake(raw, 1024));
    REQUIRE(raw.send(requestFrame(1, {.messages = {{"user", text}}, .extra_json = R"({"mock":{"chunks":1}})",
                                      .stream = true})));
    std::string joined;
    int chunks = 0;
    while (auto f = raw.readFrame()) {
      CHECK(f->size <= 1024 + 4);
      const wire::Frame* frame = frameOf(*f);
      if (frame->body_type() == wire::Body::ResponseChunk) {
        joined += frame->body_as_ResponseChunk()->delta()->str();
        ++chunks;
      }
      if (frame->body_type() == wire::Body::ResponseEnd) {
        CHECK(frame->body_as_ResponseEnd()->status() == wire::Status::OK);
        break;
      }
    }
    CHECK(chunks > 5);
    CHECK(joined == text);  // split on code point boundaries: nothing lost or broken
    REQUIRE(raw.send(requestFrame(2, {.messages = {{"user", text}}})));
    auto f = raw.readFrame();
    REQUIRE(f);
    CHECK(f->size <= 1024 + 4);
    CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::RESOURCE_EXHAUSTED);
  }
  RawConnection tiny(d.socket());
  REQUIRE(tiny.send(helloFrame(1, 100)));
  auto f = tiny.readFrame();
  REQUIRE(f);
  REQUIRE(frameOf(*f)->body_type() == wire::Body::Error);
  CHECK(frameOf(*f)->body_as_Error()->status() == wire::Status::FAILED_PRECONDITION);
}

TEST_CASE("a client that does not read its unary answers gets short RESOURCE_EXHAUSTED ends past the write queue limit, and is closed when it reads nothing") {
  // Each answer is 50 KB; the queue may hold 256 KiB.
  std::string base = basicConfig("mode = \"fixed\"\ntext = \"" + std::string(50000, 'x') + "\"", kAdmin);
  DaemonProcess d("[server]\nwrite_queue_high_water = 65536\nwrite_queue_limit = 262144\nidle_timeout_ms = 2000\n" +
                  base.substr(std::string("[server]\n").size()));
  REQUIRE(d.waitReady());
  std::string requests;
  for (uint64_t sid = 1; sid <= 40; ++sid) requests += requestFrame(sid, {});
  RawConnection slow(d.socket()), silent(d.socket());
  REQUIRE(handshake(slow));
  REQUIRE(handshake(silent));
  REQUIRE(slow.send(requests));
  REQUIRE(silent.send(requests));
  std::this_thread::sleep_for(1s);  // every answer is ready long before the client reads one
  int ok = 0, refused = 0;
  while (ok + refused < 40) {
    auto f = slow.readFrame();
    REQUIRE(f);
    if (frameOf(*f)->body_type() != wire::Body::ResponseEnd) continue;
    const wire::ResponseEnd* end = frameOf(*f)->body_as_ResponseEnd();
    if (end->status() == wire::Status::OK) {
      CHECK(end->content()->size() == 50000);
      ++ok;
    } else {
      CHECK(end->status() == wire::Status::RESOURCE_EXHAUSTED);
      CHECK(end->message()->str() == "client is not reading its answers; write queue limit reached");
      ++refused;
    }
  }
  // Answers that finish together may pass the limit up to four times (a client that reads takes
  // them); past that they were refused, and the socket's own buffer held a few more (40 answers
  // would be 2 MB).
  CHECK(ok >= 1);
  CHECK(ok * 50000 < 4 * 262144 + 600000);
  CHECK(refused == 40 - ok);
  CHECK(adminMetric(d, "outrigger_socket_answers_dropped_total") >= refused);  // every lost answer counted
  // The client that reads nothing at all is closed once its output has waited idle_timeout_ms.
  std::this_thread::sleep_for(2500ms);
  CHECK(silent.closedByPeer(5s));
  CHECK(adminMetric(d, "outrigger_socket_idle_closes_total") >= 1);
}

// Below the high watermark the daemon still reads a client that reads nothing: its Pings are
// answered, and each Pong joins the waiting output, which is no progress.
TEST_CASE("a client that sends Pings but reads nothing is closed when its output has waited idle_timeout_ms") {
  std::string base = basicConfig("mode = \"fixed\"\ntext = \"" + std::string(50000, 'x') + "\"");
  DaemonProcess d("[server]\nidle_timeout_ms = 2000\n" + base.substr(std::string("[server]\n").size()));
  REQUIRE(d.waitReady());
  std::string requests;
  for (uint64_t sid = 1; sid <= 10; ++sid) requests += requestFrame(sid, {});  // 500 KB, under the 1 MiB watermark
  RawConnection pinging(d.socket());
  REQUIRE(handshake(pinging));
  REQUIRE(pinging.send(requests));
  for (uint64_t i = 0; i < 12; ++i) {  // 4.8 s of Pings, reading nothing
    pinging.send(pingFrame(i));
    std::this_thread::sleep_for(400ms);
  }
  CHECK(pinging.closedByPeer(300ms));  // reading now would be progress: closed already, or not at all
}

TEST_CASE("a client that reads gets every answer of a burst past the write queue limit") {
  std::string base = basicConfig("mode = \"fixed\"\ntext = \"" + std::string(50000, 'x') + "\"", kAdmin);
  DaemonProcess d("[server]\nwrite_queue_high_water = 65536\nwrite_queue_limit = 262144\n" +
                  base.substr(std::string("[server]\n").size()));
  REQUIRE(d.waitReady());
  std::string requests;
  for (uint64_t sid = 1; sid <= 16; ++sid) requests += requestFrame(sid, {});  // 800 KB of answers at once
  RawConnection reader(d.socket());
  REQUIRE(handshake(reader));
  REQUIRE(reader.send(requests));
  int ok = 0;
  for (int ends = 0; ends < 16;) {
    auto f = reader.readFrame();
    REQUIRE(f);
    if (frameOf(*f)->body_type() != wire::Body::ResponseEnd) continue;
    ++ends;
    ok += frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::OK;
  }
  CHECK(ok == 16);
  CHECK(adminMetric(d, "outrigger_socket_answers_dropped_total") == 0);
}

TEST_CASE("a response format type or a role the daemon does not know is refused, not given a meaning") {
  DaemonProcess d;
  REQUIRE(d.waitReady());
  RawConnection raw(d.socket());
  REQUIRE(handshake(raw));
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<wire::Message>> msgs{wire::CreateMessageDirect(b, "user", "hi")};
  auto format = wire::CreateResponseFormat(b, static_cast<wire::ResponseFormatType>(77));
  wire::ParamsBuilder pb(b);
  pb.add_response_format(format);
  auto params = pb.Finish();
  auto request = wire::CreateRequestDirect(b, "default", &msgs, params);
  wire::FrameBuilder fb(b);
  fb.add_stream_id(1);
  fb.add_body_type(wire::Body::Request);
  fb.add_body(request.Union());
  b.FinishSizePrefixed(fb.Finish(), wire::FrameIdentifier());
  REQUIRE(raw.send(std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize())));
  auto f = raw.readFrame();
  REQUIRE(f);
  const wire::ResponseEnd* end = frameOf(*f)->body_as_ResponseEnd();
  REQUIRE(end);
  CHECK(end->status() == wire::Status::INVALID_ARGUMENT);
  CHECK(end->message()->str() == "params.response_format.type 77 is not a known response format");

  REQUIRE(raw.send(requestFrame(2, {.messages = {{"admin", "hi"}}})));
  f = raw.readFrame();
  REQUIRE(f);
  end = frameOf(*f)->body_as_ResponseEnd();
  REQUIRE(end);
  CHECK(end->status() == wire::Status::INVALID_ARGUMENT);
  CHECK(end->message()->str() == "messages[0].role is not one of system, developer, user, assistant, tool, function");
  REQUIRE(raw.send(requestFrame(3, {.messages = {{"developer", "be brief"}, {"user", "still served"}}})));
  f = raw.readFrame();
  REQUIRE(f);
  CHECK(frameOf(*f)->body_as_ResponseEnd()->status() == wire::Status::OK);
}

TEST_CASE("a client that half-closes its socket still gets the ends of its streams in flight, then the close") {
  DaemonProcess d(withServer(""));
  REQUIRE(d.waitReady());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, d.socket().c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string out = helloFrame() + requestFrame(1, {.messages = {{"user", "slow one"}},
                                                    .extra_json = R"({"mock":{"latency_ms":300}})"});
  REQUIRE(::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()));
  std::this_thread::sleep_for(100ms);  // the request is in flight
  ::shutdown(fd, SHUT_WR);
  std::string in;
  bool eof = false;
  for (auto deadline = std::chrono::steady_clock::now() + 5s; !eof && std::chrono::steady_clock::now() < deadline;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) eof = true;
    else in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  CHECK(eof);  // closed once its last stream ended
  bool answered = false;
  for (size_t at = 0; at + 4 <= in.size();) {
    uint32_t len;
    std::memcpy(&len, in.data() + at, 4);
    if (at + 4 + len > in.size()) break;
    AlignedFrame f(in.substr(at, 4 + len));
    if (frameOf(f)->body_type() == wire::Body::ResponseEnd) {
      const wire::ResponseEnd* end = frameOf(f)->body_as_ResponseEnd();
      CHECK(frameOf(f)->stream_id() == 1);
      CHECK(end->status() == wire::Status::OK);
      answered = end->content() && end->content()->str() == "slow one";
    }
    at += 4 + len;
  }
  CHECK(answered);
}
