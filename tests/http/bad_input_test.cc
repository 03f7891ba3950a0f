// The HTTP front of the real daemon under hostile or odd clients: raw TCP, no HTTP client library.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "http/local_origin.h"
#include "support/raw_http.h"

using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

const char* kHttp =
    "[http]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 4096\nheader_timeout_ms = 300\nmax_connections = 4\n"
    "abort_check_ms = 20\n[admin]\nlisten = \"127.0.0.1:0\"\n";

// The daemon with an HTTP front; port() is read from its startup log.
class HttpDaemon {
 public:
  HttpDaemon() : d_(basicConfig("mode = \"echo\"\nallow_request_overrides = true", kHttp)) {
    REQUIRE(d_.waitReady());
    port_ = httpPort(d_);
    admin_ = adminPort(d_);
    REQUIRE(port_ != 0);
    REQUIRE(admin_ != 0);
  }
  int port() const { return port_; }
  int admin() const { return admin_; }
  // The value of an unlabelled metric from /metrics.
  double metric(const std::string& name);
  // Polls /metrics until `name` equals `want` (true) or 5 s pass (false).
  bool awaitMetric(const std::string& name, double want);
  DaemonProcess& process() { return d_; }

 private:
  DaemonProcess d_;
  int port_ = 0;
  int admin_ = 0;
};

double HttpDaemon::metric(const std::string& name) {
  Tcp c(admin_);
  c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = c.responses(1);
  std::smatch m;
  if (!std::regex_search(r, m, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) return -1;
  return std::stod(m[1]);
}

bool HttpDaemon::awaitMetric(const std::string& name, double want) {
  for (int i = 0; i < 500; ++i) {
    if (metric(name) == want) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::string chat(const std::string& text, const std::string& mock = "{}") {
  return post(R"({"model":"default","messages":[{"role":"user","content":")" + text + R"("}],"mock":)" + mock + "}");
}

}  // namespace

TEST_CASE("malformed JSON gets 400 in OpenAI's shape and the connection keeps serving") {
  HttpDaemon d;
  Tcp c(d.port());
  REQUIRE(c.send(post("{\"model\": \"default\", \"messages\": [")));
  std::string r = c.responses(1);
  CHECK(r.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(r.find("\"type\":\"invalid_request_error\"") != std::string::npos);
  CHECK(r.find("x-request-id: req_") != std::string::npos);
  CHECK(r.find("x-should-retry: false") != std::string::npos);
  REQUIRE(c.send(chat("still here")));
  std::string ok = c.responses(1);
  CHECK(ok.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(ok.find("still here") != std::string::npos);
}

TEST_CASE("wrong types name the offending parameter") {
  HttpDaemon d;
  Tcp c(d.port());
  REQUIRE(c.send(post(R"({"model":"default","messages":[{"role":"user","content":"x"}],"temperature":"hot"})")));
  std::string r = c.responses(1);
  CHECK(r.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(r.find("\"param\":\"temperature\"") != std::string::npos);
}

TEST_CASE("an oversized body gets 413 and the server keeps serving others") {
  HttpDaemon d;
  {
    Tcp big(d.port());
    big.send(chat(std::string(8192, 'a')));
    bool closed = false;
    std::string r = big.readUntil([](const std::string& s) { return s.find("\r\n\r\n") != std::string::npos; }, 5s,
                                  &closed);
    CHECK(r.rfind("HTTP/1.1 413", 0) == 0);
  }
  Tcp c(d.port());
  REQUIRE(c.send(chat("after")));
  CHECK(c.responses(1).rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("a slow-loris client is cut off after the header timeout while others are served") {
  HttpDaemon d;
  Tcp slow(d.port());
  REQUIRE(slow.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"));
  Tcp c(d.port());
  REQUIRE(c.send(chat("served meanwhile")));
  CHECK(c.responses(1).rfind("HTTP/1.1 200", 0) == 0);
  bool closed = false;
  auto t0 = std::chrono::steady_clock::now();
  slow.readUntil([](const std::string&) { return false; }, 5s, &closed);
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("pipelined requests are answered in order") {
  HttpDaemon d;
  Tcp c(d.port());
  REQUIRE(c.send(chat("first", R"({"latency_ms": 30})") + chat("second") + chat("third")));
  std::string r = c.responses(3);
  REQUIRE(Tcp::completeResponses(r) == 3);
  size_t a = r.find("first"), b = r.find("second"), e = r.find("third");
  CHECK(a != std::string::npos);
  CHECK(a < b);
  CHECK(b < e);
}

TEST_CASE("a half-closed connection still gets its answer, then is closed") {
  HttpDaemon d;
  Tcp c(d.port());
  REQUIRE(c.send(chat("half")));
  c.shutdownWrite();
  bool closed = false;
  std::string r = c.readUntil([](const std::string&) { return false; }, 5s, &closed);
  CHECK(r.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(r.find("half") != std::string::npos);
  CHECK(closed);
}

// A client that half-closes mid-stream is taken for gone and its stream is stopped; what it can
// still read must not pass for the whole answer (no last chunk, no [DONE]).
TEST_CASE("a stream cut short for a half-closed client does not end like a whole answer") {
  HttpDaemon d;
  Tcp c(d.port());
  REQUIRE(c.send(post(R"({"model":"default","stream":true,"messages":[{"role":"user","content":"a b c d e f g h"}],)"
                      R"("mock":{"chunks":8,"chunk_interval_ms":200}})")));
  REQUIRE(c.readUntil([](const std::string& t) { return t.find("data: ") != std::string::npos; }, 5s).rfind("HTTP/1.1 200", 0) == 0);
  c.shutdownWrite();
  bool closed = false;
  std::string rest = c.readUntil([](const std::string&) { return false; }, 5s, &closed);
  CHECK(closed);
  CHECK(rest.find("[DONE]") == std::string::npos);
  const std::string last_chunk = "0\r\n\r\n";
  CHECK_FALSE((rest.size() >= last_chunk.size() && rest.compare(rest.size() - last_chunk.size(), last_chunk.size(), last_chunk) == 0));
  CHECK(d.awaitMetric("outrigger_requests_in_flight", 0));
}

// A client that stops reading a stream would hold its answer (up to twice the high water mark) and
// its socket for as long as it likes: the output it has not taken for write_timeout_ms closes it.
TEST_CASE("a client that stops reading a stream is closed after write_timeout_ms, and counted") {
  // 12 MiB of answer, more than the loopback socket buffers on both sides hold.
  DaemonProcess d("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n"
                  "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"fixed\"\n"
                  "allow_request_overrides = true\ntext = \"" + std::string(12u << 20, 'x') + "\"\n"
                  "[routes.default]\nprovider = \"mock\"\n"
                  "[http]\nlisten = \"127.0.0.1:0\"\nwrite_buffer_high_water = 65536\nwrite_timeout_ms = 1000\n"
                  "abort_check_ms = 50\n[admin]\nlisten = \"127.0.0.1:0\"\n");
  REQUIRE(d.waitReady(30s));
  Tcp c(httpPort(d));
  REQUIRE(c.send(post(R"({"model":"default","stream":true,"messages":[{"role":"user","content":"hi"}],)"
                      R"("mock":{"chunks":200}})")));
  REQUIRE(c.readUntil([](const std::string& t) { return t.find("data: ") != std::string::npos; }, 10s).rfind("HTTP/1.1 200", 0) == 0);
  // Nothing more is read: the daemon's write waits, then the connection is shut down.
  CHECK(awaitAdminMetric(d, "outrigger_http_write_timeouts_total", [](double v) { return v >= 1; }) == 1);
  CHECK(awaitAdminMetric(d, "outrigger_http_connections", [](double v) { return v == 0; }) == 0);
  CHECK(awaitAdminMetric(d, "outrigger_requests_in_flight", [](double v) { return v == 0; }) == 0);
  bool closed = false;
  std::string rest = c.readUntil([](const std::string&) { return false; }, 10s, &closed);
  CHECK(closed);
  CHECK(rest.find("[DONE]") == std::string::npos);
}

// The same for a whole answer: a unary (or embeddings) body goes out through the same slices.
TEST_CASE("a client that stops reading a unary answer is closed after write_timeout_ms, and counted") {
  const size_t text_bytes = 12u << 20;
  DaemonProcess d("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n"
                  "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"fixed\"\n"
                  "text = \"" + std::string(text_bytes, 'x') + "\"\n"
                  "[routes.default]\nprovider = \"mock\"\n"
                  "[http]\nlisten = \"127.0.0.1:0\"\nwrite_timeout_ms = 1000\n"
                  "abort_check_ms = 50\n[admin]\nlisten = \"127.0.0.1:0\"\n");
  REQUIRE(d.waitReady(30s));
  Tcp c(httpPort(d));
  REQUIRE(c.send(post(R"({"model":"default","messages":[{"role":"user","content":"hi"}]})")));
  REQUIRE(c.readUntil([](const std::string& t) { return t.find("\r\n\r\n") != std::string::npos; }, 10s).rfind("HTTP/1.1 200", 0) == 0);
  // Nothing more is read: the daemon's write waits, then the connection is shut down.
  CHECK(awaitAdminMetric(d, "outrigger_http_write_timeouts_total", [](double v) { return v >= 1; }) == 1);
  CHECK(awaitAdminMetric(d, "outrigger_http_connections", [](double v) { return v == 0; }) == 0);
  bool closed = false;
  std::string rest = c.readUntil([](const std::string&) { return false; }, 10s, &closed);
  CHECK(closed);
  CHECK(rest.size() < text_bytes);  // the answer never went out whole
}

// A whole answer of many slices arrives whole and in order (the slices are cut from an offset
// into what waits, which is compacted as it goes).
TEST_CASE("a unary answer of many write slices arrives whole, byte for byte") {
  std::string text;
  for (int i = 0; text.size() < (1u << 20) + 12345; ++i) text += std::to_string(i) + ",";
  DaemonProcess d("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n"
                  "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nmode = \"fixed\"\n"
                  "text = \"" + text + "\"\n[routes.default]\nprovider = \"mock\"\n"
                  "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n");
  REQUIRE(d.waitReady(30s));
  Tcp c(httpPort(d));
  REQUIRE(c.send(post(R"({"model":"default","messages":[{"role":"user","content":"hi"}]})")));
  std::string r = c.responses(1, 20s);
  REQUIRE(r.rfind("HTTP/1.1 200", 0) == 0);
  size_t body = r.find("\r\n\r\n");
  REQUIRE(body != std::string::npos);
  rapidjson::Document json;
  json.Parse(r.c_str() + body + 4, r.size() - body - 4);
  REQUIRE_FALSE(json.HasParseError());
  const rapidjson::Value& content = json["choices"][0]["message"]["content"];
  CHECK(std::string(content.GetString(), content.GetStringLength()) == text);
}

TEST_CASE("a client that closes while its request waits cancels the upstream call") {
  HttpDaemon d;
  {
    Tcp c(d.port());
    REQUIRE(c.send(chat("hang", R"({"hang": true})")));
    REQUIRE(d.awaitMetric("outrigger_requests_in_flight", 1));
  }
  // The daemon notices within abort_check_ms and the hanging mock call ends.
  CHECK(d.awaitMetric("outrigger_http_client_aborts_total", 1));
  CHECK(d.awaitMetric("outrigger_requests_in_flight", 0));
}

// HTTP/1 does not read while a request is served, so a request pipelined behind it waits unread
// in the socket; a client that sends one and closes is still gone (a peek sees the waiting bytes,
// not the end of the stream behind them).
TEST_CASE("a client that pipelines a request and then closes cancels the upstream call too") {
  HttpDaemon d;
  {
    Tcp c(d.port());
    REQUIRE(c.send(chat("hang", R"({"hang": true})")));
    REQUIRE(d.awaitMetric("outrigger_requests_in_flight", 1));
    REQUIRE(c.send(chat("next")));
  }
  CHECK(d.awaitMetric("outrigger_http_client_aborts_total", 1));
  CHECK(d.awaitMetric("outrigger_requests_in_flight", 0));
}

TEST_CASE("connections beyond max_connections are closed at once") {
  HttpDaemon d;
  std::vector<std::unique_ptr<Tcp>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<Tcp>(d.port()));
    REQUIRE(held.back()->send(chat("held")));
    REQUIRE(held.back()->responses(1).rfind("HTTP/1.1 200", 0) == 0);
  }
  Tcp extra(d.port());
  extra.send(chat("one too many"));
  bool closed = false;
  std::string r = extra.readUntil([](const std::string&) { return false; }, 3s, &closed);
  CHECK(closed);
  CHECK(r.empty());
}

// The listener takes every waiting connection in one pass, before any worker has counted the ones
// handed to it: the count the limit reads is taken where the connection is admitted.
TEST_CASE("a burst of connections taken in one pass still stops at max_connections") {
  HttpDaemon d;
  REQUIRE(d.process().pause());  // the connections wait in the listen backlog
  std::vector<std::unique_ptr<Tcp>> burst;
  for (int i = 0; i < 32; ++i) {
    burst.push_back(std::make_unique<Tcp>(d.port()));
    REQUIRE(burst.back()->send(chat("burst")));
  }
  d.process().signal(SIGCONT);
  int served = 0;
  for (auto& c : burst) {
    bool closed = false;
    std::string r = c->readUntil([](const std::string& t) { return t.find("\r\n\r\n") != std::string::npos; }, 5s, &closed);
    if (r.rfind("HTTP/1.1 200", 0) == 0) ++served;
  }
  CHECK(served >= 1);
  CHECK(served <= 4);
  burst.clear();
  CHECK(d.awaitMetric("outrigger_http_connections", 0));
}

TEST_CASE("unknown paths get 404 and wrong methods 405, both as OpenAI errors") {
  HttpDaemon d;
  Tcp c(d.port());
  REQUIRE(c.send("GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r = c.responses(1);
  CHECK(r.rfind("HTTP/1.1 404", 0) == 0);
  CHECK(r.find("\"error\":{") != std::string::npos);
  REQUIRE(c.send("GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string m = c.responses(1);
  CHECK(m.rfind("HTTP/1.1 405", 0) == 0);
  CHECK(m.find("allow: POST") != std::string::npos);
}

TEST_CASE("Anthropic's count_tokens for a model without a known encoding is a typed 501, not a guess, and the connection keeps serving") {
  HttpDaemon d;
  Tcp c(d.port());
  std::string body = R"({"model":"default","messages":[{"role":"user","content":"count me"}]})";
  REQUIRE(c.send("POST /v1/messages/count_tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body));
  std::string r = c.responses(1);
  CHECK(r.rfind("HTTP/1.1 501", 0) == 0);
  CHECK(r.find(R"("type":"error","error":{"type":"api_error","message":"count_tokens has no exact tokenizer for model 'default')") !=
        std::string::npos);
  CHECK(r.find("x-should-retry: false") != std::string::npos);
  REQUIRE(c.send(chat("still here")));
  CHECK(c.responses(1).rfind("HTTP/1.1 200", 0) == 0);
}

namespace {

// An HTTP/2 frame: 24-bit length, type, flags, stream id.
std::string h2Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  for (int shift : {16, 8, 0}) f += char((payload.size() >> shift) & 0xff);
  f += char(type);
  f += char(flags);
  for (int shift : {24, 16, 8, 0}) f += char((stream >> shift) & 0xff);
  return f + payload;
}

// HPACK: a literal header field without indexing, new name (names and values under 127 bytes).
std::string hpackLiteral(const std::string& name, const std::string& value) {
  return std::string(1, '\0') + char(name.size()) + name + char(value.size()) + value;
}

}  // namespace

TEST_CASE("an HTTP/2 request whose body trickles past the header timeout has its connection closed") {
  HttpDaemon d;
  Tcp h2(d.port());
  std::string headers = hpackLiteral(":method", "POST") + hpackLiteral(":scheme", "http") +
                        hpackLiteral(":path", "/v1/chat/completions") + hpackLiteral(":authority", "x") +
                        hpackLiteral("content-type", "application/json") + hpackLiteral("content-length", "100");
  REQUIRE(h2.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2Frame(4, 0, 0, "") +
                  h2Frame(1, 0x4 /* END_HEADERS */, 1, headers) + h2Frame(0, 0, 1, "{\"model\":")));
  auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  // A byte now and then is not enough: the request as a whole must arrive in time.
  for (int i = 0; i < 20 && !closed; ++i) {
    h2.send(h2Frame(0, 0, 1, " "));
    h2.readUntil([](const std::string&) { return false; }, 150ms, &closed);
  }
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // header_timeout_ms = 300, swept every 75 ms
  Tcp c(d.port());
  REQUIRE(c.send(chat("served after")));
  CHECK(c.responses(1).rfind("HTTP/1.1 200", 0) == 0);
}

// h2o takes up to 100 streams a connection and reads their whole bodies; only 16 run. The others
// waited with their bodies, unseen and unbounded: one connection held 340 MB. Those waiting may
// now take as much as the running ones (16 x max_body_bytes), and the connection is closed past it.
TEST_CASE("an HTTP/2 connection whose waiting requests hold more body than its running ones may is closed, and counted") {
  HttpDaemon d;
  Tcp h2(d.port());
  auto headers = [](size_t length) {
    return hpackLiteral(":method", "POST") + hpackLiteral(":scheme", "http") + hpackLiteral(":path", "/v1/chat/completions") +
           hpackLiteral(":authority", "x") + hpackLiteral("content-type", "application/json") +
           hpackLiteral("content-length", std::to_string(length));
  };
  const std::string hang = R"({"model":"default","messages":[{"role":"user","content":"hi"}],"mock":{"hang":true}})";
  std::string out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2Frame(4, 0, 0, "");
  uint32_t stream = 1;
  for (int i = 0; i < 16; ++i, stream += 2) {  // the 16 that run, and hang
    out += h2Frame(1, 0x4, stream, headers(hang.size())) + h2Frame(0, 0x1 /* END_STREAM */, stream, hang);
  }
  REQUIRE(h2.send(out));
  REQUIRE(d.awaitMetric("outrigger_requests_in_flight", 16));
  // 20 more of 4000 bytes (max_body_bytes 4096): 80,000 waiting, over the 65,536 the running may take.
  const std::string body = R"({"model":"default","messages":[{"role":"user","content":")" + std::string(3900, 'a') + R"("}]})";
  bool closed = false;
  for (int i = 0; i < 20 && !closed; ++i, stream += 2) {
    h2.send(h2Frame(1, 0x4, stream, headers(body.size())) + h2Frame(0, 0x1, stream, body));
    h2.readUntil([](const std::string&) { return false; }, 10ms, &closed);
  }
  for (int i = 0; i < 40 && !closed; ++i) h2.readUntil([](const std::string&) { return false; }, 50ms, &closed);
  CHECK(closed);
  CHECK(d.awaitMetric("outrigger_http2_waiting_bodies_closes_total", 1));
  CHECK(d.awaitMetric("outrigger_requests_in_flight", 0));  // its running requests ended with it
}

// A stream still waiting for its answer exempted its connection from the write timeout: the
// answers beside it, which the client took none of, stayed in memory for good.
TEST_CASE("an HTTP/2 client that takes no output is closed after write_timeout_ms though a stream of it still waits for its answer") {
  DaemonProcess d(basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                              "[http]\nlisten = \"127.0.0.1:0\"\nwrite_timeout_ms = 1000\nabort_check_ms = 50\n"
                              "[admin]\nlisten = \"127.0.0.1:0\"\n"));
  REQUIRE(d.waitReady());
  Tcp h2(httpPort(d));
  auto request = [](uint32_t stream, const std::string& body) {
    std::string headers = hpackLiteral(":method", "POST") + hpackLiteral(":scheme", "http") +
                          hpackLiteral(":path", "/v1/chat/completions") + hpackLiteral(":authority", "x") +
                          hpackLiteral("content-type", "application/json") +
                          hpackLiteral("content-length", std::to_string(body.size()));
    return h2Frame(1, 0x4, stream, headers) + h2Frame(0, 0x1, stream, body);
  };
  // SETTINGS_INITIAL_WINDOW_SIZE 0: no stream may send a byte of body to this client.
  const std::string no_window = std::string("\x00\x04", 2) + std::string(4, '\0');
  REQUIRE(h2.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2Frame(4, 0, 0, no_window) +
                  request(1, R"({"model":"default","messages":[{"role":"user","content":"answer me"}]})") +
                  request(3, R"({"model":"default","messages":[{"role":"user","content":"hang"}],"mock":{"hang":true}})")));
  CHECK(awaitAdminMetric(d, "outrigger_http_write_timeouts_total", [](double v) { return v >= 1; }) == 1);
  CHECK(awaitAdminMetric(d, "outrigger_requests_in_flight", [](double v) { return v == 0; }) == 0);
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) h2.readUntil([](const std::string&) { return false; }, 50ms, &closed);
  CHECK(closed);
}

// An answer past the route's max_answer_bytes is a 429 that says not to retry, with no time to
// retry after: one more try would generate it all again.
TEST_CASE("an answer past max_answer_bytes is a 429 without retry-after, marked not to retry") {
  DaemonProcess d(basicConfig("mode = \"echo\"\nallow_request_overrides = true", std::string("max_answer_bytes = 1024\n") + kHttp));
  REQUIRE(d.waitReady());
  Tcp c(httpPort(d));
  REQUIRE(c.send(chat("long", R"({"text": ")" + std::string(2000, 'y') + R"(", "chunks": 8})")));
  std::string r = c.responses(1);
  CHECK(r.rfind("HTTP/1.1 429", 0) == 0);
  CHECK(r.find("max_answer_bytes (1024)") != std::string::npos);
  CHECK(r.find("x-should-retry: false") != std::string::npos);
  CHECK(r.find("retry-after") == std::string::npos);
  CHECK(r.find("x-outrigger-origin: provider/mock") != std::string::npos);  // the stage whose answer it was
}

namespace {
std::string chatWithHeaders(const std::string& host, const std::string& extra_headers) {
  std::string body = R"({"model":"default","messages":[{"role":"user","content":"hi"}]})";
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: text/plain\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}
int statusOf(int port, const std::string& request) {
  Tcp c(port);
  if (!c.send(request)) return 0;
  std::string r = c.responses(1);
  return r.size() > 12 && r.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(r.substr(9, 3)) : 0;
}
}  // namespace

// A web page reaches 127.0.0.1 too: by a DNS name rebound there (its Host) or by a blind simple
// POST from its own origin (its Origin). Neither is served; SDKs and servers send neither.
TEST_CASE("requests a browser sends for another site's page are refused: a rebound Host 421, a foreign Origin 403") {
  HttpDaemon d;
  CHECK(statusOf(d.port(), chatWithHeaders("attacker.example.com:" + std::to_string(d.port()), "")) == 421);
  CHECK(statusOf(d.port(), chatWithHeaders("localhost:" + std::to_string(d.port()), "")) == 200);
  CHECK(statusOf(d.port(), chatWithHeaders("127.0.0.1", "")) == 200);
  CHECK(statusOf(d.port(), chatWithHeaders("localhost", "Origin: http://attacker.example.com\r\n")) == 403);
  CHECK(statusOf(d.port(), chatWithHeaders("localhost", "Origin: null\r\n")) == 403);
  CHECK(statusOf(d.port(), chatWithHeaders("localhost", "Origin: http://localhost.attacker.example.com\r\n")) == 403);
  CHECK(statusOf(d.port(), chatWithHeaders("localhost", "Origin: http://localhost:3000\r\n")) == 200);
  CHECK(statusOf(d.port(), chatWithHeaders("localhost", "Origin: http://127.0.0.1:5173\r\n")) == 200);
  CHECK(statusOf(d.port(), chatWithHeaders("localhost", "Origin: http://[::1]:8080\r\n")) == 200);
  Tcp c(d.port());
  REQUIRE(c.send(chatWithHeaders("localhost", "Origin: https://evil.example\r\n")));
  std::string refused = c.responses(1);
  CHECK(refused.find("\"type\":\"permission_error\"") != std::string::npos);
  CHECK(refused.find("x-should-retry: false") != std::string::npos);
  CHECK(d.process().log().find("refused a browser request from origin 'https://evil.example'") != std::string::npos);
}

TEST_CASE("a dotted Host the operator names in [http] allowed_hosts is served") {
  std::string http = kHttp;
  http.insert(http.find("[admin]"), "allowed_hosts = [\"API.internal\"]\n");
  DaemonProcess d(basicConfig("mode = \"echo\"", http));
  REQUIRE(d.waitReady());
  const int port = httpPort(d);
  CHECK(statusOf(port, chatWithHeaders("api.internal:8080", "")) == 200);
  CHECK(statusOf(port, chatWithHeaders("other.internal", "")) == 421);
}

TEST_CASE("Host and Origin checks: a NUL byte never makes a foreign name read as a local one") {
  using outrigger::http::hostAllowed;
  using outrigger::http::loopbackOrigin;
  CHECK_FALSE(hostAllowed(std::string_view("127.0.0.1\0.evil.example", 23), {}));
  CHECK_FALSE(loopbackOrigin(std::string_view("http://127.0.0.1\0.evil.example", 30)));
  CHECK(hostAllowed("127.0.0.1:8080", {}));
  CHECK(loopbackOrigin("http://127.0.0.1:8080"));
  CHECK_FALSE(loopbackOrigin("http://[::1"));
  CHECK_FALSE(loopbackOrigin("ftp://localhost"));
}
