// Both fronts under a crowd at once: slow-loris clients dripping a byte at a time and a flood of
// silent connections, while well-behaved clients on the socket and over HTTP keep being served,
// and the crowd is cut off by the timeouts. (Refusal past max_connections is tested per front in
// hostile_socket_test.cc and tests/http/bad_input_test.cc.) The daemon is a real process.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "outrigger_generated.h"
#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/raw_http.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

constexpr int kLorisPerFront = 150;
constexpr int kFloodPerFront = 200;

std::string crowdConfig() {
  std::string c = basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                              "[http]\nlisten = \"127.0.0.1:0\"\nheader_timeout_ms = 1500\nmax_connections = 1000\n"
                              "[admin]\nlisten = \"127.0.0.1:0\"\n");
  // The socket front: Hello within 1.5 s of connecting, and a frame begun whole within 1.5 s.
  return "[server]\nmax_connections = 1000\nmax_connections_per_peer = 0\nhandshake_timeout_ms = 1500\n"
         "frame_timeout_ms = 1500\n" +
         c.substr(std::string("[server]\n").size());
}

std::string chatBody(const std::string& text) {
  return post(R"({"model":"default","messages":[{"role":"user","content":")" + text + R"("}]})");
}

}  // namespace

TEST_CASE("slow-loris crowds and connection floods on both fronts at once: other clients keep being served") {
  DaemonProcess d(crowdConfig());
  REQUIRE(d.waitReady());
  int http_port = httpPort(d);
  REQUIRE(http_port != 0);

  // Slow loris: each connection starts a request and then sends one more byte every 100 ms.
  std::vector<std::unique_ptr<Tcp>> http_loris;
  std::vector<std::unique_ptr<RawConnection>> socket_loris;
  std::string http_head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Drip: ";
  std::string frame = requestFrame(1, {});
  for (int i = 0; i < kLorisPerFront; ++i) {
    http_loris.push_back(std::make_unique<Tcp>(http_port));
    REQUIRE(http_loris.back()->send(http_head));
    socket_loris.push_back(std::make_unique<RawConnection>(d.socket()));
    REQUIRE(socket_loris.back()->send(helloFrame() + frame.substr(0, 8)));
  }
  std::atomic<bool> stop{false};
  std::thread drip([&] {
    while (!stop.load()) {
      for (auto& c : http_loris) c->send("a");
      for (auto& c : socket_loris) c->send(std::string(1, frame[8]));
      std::this_thread::sleep_for(100ms);
    }
  });
  // The flood: connections past both fronts' limits, opened and left silent.
  std::vector<std::unique_ptr<Tcp>> http_flood;
  std::vector<std::unique_ptr<RawConnection>> socket_flood;
  for (int i = 0; i < kFloodPerFront; ++i) {
    http_flood.push_back(std::make_unique<Tcp>(http_port));
    socket_flood.push_back(std::make_unique<RawConnection>(d.socket()));
  }

  // Meanwhile: an SDK client and an HTTP client, each answered every time, none of them kept
  // waiting behind the crowd (2 s is a liveness bound, far above a normal answer's milliseconds).
  client::Client sdk(at(d));
  milliseconds slowest_sdk{0}, slowest_http{0};
  int sdk_ok = 0, http_ok = 0;
  for (int i = 0; i < 20; ++i) {
    auto t0 = steady_clock::now();
    auto r = sdk.chat(ask("sdk " + std::to_string(i)));
    slowest_sdk = std::max(slowest_sdk, duration_cast<milliseconds>(steady_clock::now() - t0));
    if (r.ok() && r.value().content == "sdk " + std::to_string(i)) ++sdk_ok;

    t0 = steady_clock::now();
    Tcp h(http_port);
    h.send(chatBody("http " + std::to_string(i)));
    std::string reply = h.responses(1, 5s);
    slowest_http = std::max(slowest_http, duration_cast<milliseconds>(steady_clock::now() - t0));
    if (reply.rfind("HTTP/1.1 200", 0) == 0 && reply.find("http " + std::to_string(i)) != std::string::npos) ++http_ok;
  }
  stop = true;
  drip.join();
  INFO("slowest SDK call " << slowest_sdk.count() << " ms, slowest HTTP call " << slowest_http.count() << " ms");
  CHECK(sdk_ok == 20);
  CHECK(http_ok == 20);
  CHECK(slowest_sdk < 2s);
  CHECK(slowest_http < 2s);

  // The dripping connections were cut off by the frame and header timeouts, not served forever.
  int http_cut = 0, socket_cut = 0;
  for (auto& c : http_loris) {
    bool closed = false;
    c->readUntil([](const std::string&) { return false; }, 3s, &closed);
    http_cut += closed;
  }
  for (auto& c : socket_loris) {
    // Either the HelloAck then an Error, or nothing: the connection ends within the timeout.
    socket_cut += c->closedByPeer(3s);
  }
  CHECK(http_cut == kLorisPerFront);
  CHECK(socket_cut == kLorisPerFront);
  CHECK(adminMetric(d, "outrigger_socket_frame_timeouts_total") == kLorisPerFront);
  // The silent flood is closed too: sockets by the handshake timeout, HTTP by the header timeout.
  int http_flood_cut = 0, socket_flood_cut = 0;
  for (auto& c : http_flood) {
    bool closed = false;
    c->readUntil([](const std::string&) { return false; }, 3s, &closed);
    http_flood_cut += closed;
  }
  for (auto& c : socket_flood) socket_flood_cut += c->closedByPeer(3s);
  CHECK(http_flood_cut == kFloodPerFront);
  CHECK(socket_flood_cut == kFloodPerFront);
  CHECK(adminMetric(d, "outrigger_socket_handshake_timeouts_total") >= kFloodPerFront);
  CHECK(d.alive());
}

TEST_CASE("the admin server serves at most 64 connections at once: one more is closed, a freed slot is reused") {
  DaemonProcess d(crowdConfig());
  REQUIRE(d.waitReady());
  int port = adminPort(d);
  REQUIRE(port != 0);
  const std::string probe = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::vector<std::unique_ptr<Tcp>> held;
  for (int i = 0; i < 64; ++i) {
    held.push_back(std::make_unique<Tcp>(port));
    REQUIRE(held.back()->send(probe));
    REQUIRE(held.back()->responses(1, 5s).rfind("HTTP/1.1 200", 0) == 0);  // served, kept alive
  }
  Tcp extra(port);
  extra.send(probe);
  bool closed = false;
  std::string reply = extra.readUntil([](const std::string&) { return false; }, 5s, &closed);
  CHECK(closed);
  CHECK(reply.empty());

  held.pop_back();  // the server sees the close and frees the slot
  std::string answered;
  for (int i = 0; i < 50 && answered.empty(); ++i) {
    std::this_thread::sleep_for(20ms);
    Tcp again(port);
    again.send(probe);
    answered = again.responses(1, 2s);
  }
  CHECK(answered.rfind("HTTP/1.1 200", 0) == 0);
  client::Client sdk(at(d));
  CHECK(sdk.chat(ask("still serving")).ok());
}
