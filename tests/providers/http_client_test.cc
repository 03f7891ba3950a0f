// The host HTTP client against the scripted upstream on loopback: one behaviour per test, on a
// loop driven by hand.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "event/event_loop.h"
#include "http_client/http_client.h"
#include "support/daemon_process.h"
#include "daemon_rig.h"
#include "upstream_process.h"

using outrigger::event::EventLoop;
using outrigger::http_client::HttpClient;
using outrigger::http_client::HttpClientSettings;
using outrigger::testing::parseJson;
using outrigger::testing::UpstreamProcess;

namespace {

constexpr outrigger_request kOwner{3, 7};

// Records what a transfer delivered; optionally pauses or aborts.
struct Recorder {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int body_calls = 0;
  int completions = 0;
  outrigger_http_error error = -1;
  int result_status = 0;
  std::string message;
  bool pause_on_body = false;
  bool abort_on_head = false;
  bool paused = false;
  std::function<void()> during_body;  // runs inside on_body (once)
  bool in_body = false;
  bool completed_inside_body = false;

  bool done() const { return completions > 0; }
  std::string header(const std::string& name) const {
    for (auto& [k, v] : headers)
      if (k == name) return v;
    return "";
  }

  static const outrigger_http_sink& sink() {
    static const outrigger_http_sink s = {
        OUTRIGGER_HEADER_INIT(outrigger_http_sink),
        [](void* u, const outrigger_http_response_head* h) noexcept -> outrigger_status {
          auto* r = static_cast<Recorder*>(u);
          r->status = h->status;
          for (size_t i = 0; i < h->header_count; ++i)
            r->headers.emplace_back(std::string(h->headers[i].name.data, h->headers[i].name.size),
                                    std::string(h->headers[i].value.data, h->headers[i].value.size));
          return r->abort_on_head ? OUTRIGGER_E_INVALID : OUTRIGGER_OK;
        },
        [](void* u, outrigger_str b) noexcept -> outrigger_status {
          auto* r = static_cast<Recorder*>(u);
          r->body.append(b.data, b.size);
          ++r->body_calls;
          if (r->during_body) {
            auto hook = std::move(r->during_body);
            r->during_body = nullptr;
            r->in_body = true;
            hook();
            r->in_body = false;
          }
          if (r->pause_on_body) {
            r->paused = true;
            return OUTRIGGER_PAUSE;
          }
          return OUTRIGGER_OK;
        },
        [](void* u, const outrigger_http_result* res) noexcept {
          auto* r = static_cast<Recorder*>(u);
          if (r->in_body) r->completed_inside_body = true;
          ++r->completions;
          r->error = res->error;
          r->result_status = res->status;
          r->message.assign(res->message.data ? res->message.data : "", res->message.size);
        },
    };
    return s;
  }
};

HttpClientSettings withTransport(bool plain_http1, HttpClientSettings s) {
  s.plain_http1 = plain_http1;
  return s;
}

struct Fixture {
  UpstreamProcess upstream;
  EventLoop loop{0};
  HttpClient client;
  explicit Fixture(bool plain_http1, HttpClientSettings s = {}) : client(loop.loop(), withTransport(plain_http1, s)) {
    REQUIRE(upstream.ready());
  }
  ~Fixture() {
    client.shutdown();
    loop.runUntilForTest([] { return false; }, 20);  // let close callbacks free the handles
  }

  uint64_t start(Recorder& r, const std::string& path, const std::string& body, uint64_t deadline_ns = 0,
                 outrigger_http_request* tweak = nullptr) {
    std::string url = upstream.baseUrl() + path;
    outrigger_http_header headers[] = {{{"content-type", 12}, {"application/json", 16}}};
    outrigger_http_request req{};
    if (tweak) req = *tweak;
    req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
    req.url = {url.data(), url.size()};
    req.headers = headers;
    req.header_count = 1;
    req.body = {body.data(), body.size()};
    uint64_t id = 0;
    REQUIRE(client.start(kOwner, deadline_ns, req, Recorder::sink(), &r, &id) == OUTRIGGER_OK);
    return id;
  }
  bool run(const std::function<bool()>& until, uint64_t ms = 5000) { return loop.runUntilForTest(until, ms); }
};

// Every behaviour holds for both transports: http:// goes through the plain HTTP/1.1 one by
// default, and through libcurl when it is switched off (or a proxy is configured).
#define TRANSPORT_FIXTURE(f, ...)                                                        \
  const bool plain_http1 = GENERATE(true, false);                                         \
  INFO((plain_http1 ? "transport: plain HTTP/1.1" : "transport: libcurl"));               \
  Fixture f(plain_http1, ##__VA_ARGS__)

const std::string kChat = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
const std::string kStream = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";

}  // namespace

TEST_CASE("http client: a unary answer arrives with its head, body and one completion") {
  TRANSPORT_FIXTURE(f);
  Recorder r;
  f.start(r, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_OK);
  CHECK(r.status == 200);
  CHECK(r.result_status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body.find("Hello from upstream") != std::string::npos);
  CHECK(r.completions == 1);
  CHECK(f.client.counters().completed == 1);
  CHECK(f.client.active() == 0);
}

TEST_CASE("http client: an error status is a completed transfer carrying the status and headers") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"status","code":429,"headers":{"retry-after":"2"}}])"));
  Recorder r;
  f.start(r, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_OK);
  CHECK(r.status == 429);
  CHECK(r.header("retry-after") == "2");
  CHECK(r.body.find("rate_limit_error") != std::string::npos);
}

TEST_CASE("http client: a stream is delivered incrementally and keep-alive reuses the connection") {
  TRANSPORT_FIXTURE(f);
  Recorder a, b;
  f.start(a, "/v1/chat/completions", kStream);
  REQUIRE(f.run([&] { return a.done(); }));
  CHECK(a.error == OUTRIGGER_HTTP_OK);
  CHECK(a.body.find("data: [DONE]") != std::string::npos);
  CHECK(a.body_calls >= 1);
  f.start(b, "/v1/chat/completions", kStream);
  REQUIRE(f.run([&] { return b.done(); }));
  CHECK(b.error == OUTRIGGER_HTTP_OK);
  CHECK(f.client.counters().sockets_opened == 1);  // one pooled connection served both
}

TEST_CASE("http client: a connection reset mid-stream is a transport error, never a success") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"reset_mid_stream","after":2,"gap_ms":50}])"));
  Recorder r;
  f.start(r, "/v1/chat/completions", kStream);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_E_TRANSPORT);
  CHECK(r.status == 200);
  CHECK(r.body.find("data: ") != std::string::npos);
  CHECK_FALSE(r.message.empty());
}

TEST_CASE("http client: an upstream that never answers hits the first-byte timeout") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"hang","ms":3000}])"));
  Recorder r;
  outrigger_http_request t{};
  t.first_byte_timeout_ms = 150;
  uint64_t t0 = outrigger::monoNowNs();
  f.start(r, "/v1/chat/completions", kChat, 0, &t);
  REQUIRE(f.run([&] { return r.done(); }));
  uint64_t took_ms = (outrigger::monoNowNs() - t0) / 1000000;
  CHECK(r.error == OUTRIGGER_HTTP_E_FIRST_BYTE_TIMEOUT);
  CHECK(took_ms >= 150);
  CHECK(took_ms < 1500);
  CHECK(f.client.counters().timeouts == 1);
}

TEST_CASE("http client: the request deadline wins over longer phase timeouts") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"hang","ms":3000}])"));
  Recorder r;
  uint64_t deadline = outrigger::monoNowNs() + 100 * 1000000ull;
  f.start(r, "/v1/chat/completions", kChat, deadline);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_E_DEADLINE);
  CHECK(outrigger::monoNowNs() - deadline < 1000 * 1000000ull);  // well before the 3 s hang ends
}

TEST_CASE("http client: a stalled stream hits the idle timeout") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"ok","gap_ms":400}])"));
  Recorder r;
  outrigger_http_request t{};
  t.idle_timeout_ms = 100;
  f.start(r, "/v1/chat/completions", kStream, 0, &t);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_E_IDLE_TIMEOUT);
  CHECK(r.status == 200);
}

TEST_CASE("http client: a paused sink receives nothing until resume, and the idle timer waits") {
  TRANSPORT_FIXTURE(f);
  Recorder r;
  r.pause_on_body = true;
  outrigger_http_request t{};
  t.idle_timeout_ms = 50;
  uint64_t id = f.start(r, "/v1/chat/completions", kStream, 0, &t);
  REQUIRE(f.run([&] { return r.paused; }));
  int calls = r.body_calls;
  f.run([] { return false; }, 200);  // longer than the idle timeout
  CHECK(r.body_calls == calls);
  CHECK_FALSE(r.done());
  r.pause_on_body = false;
  REQUIRE(f.client.resume(kOwner, id) == OUTRIGGER_OK);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_OK);
  CHECK(r.body.find("data: [DONE]") != std::string::npos);
  CHECK(f.client.counters().paused >= 1);
}

TEST_CASE("http client: cancel aborts at once and no callback follows") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"hang","ms":3000}])"));
  Recorder r;
  uint64_t id = f.start(r, "/v1/chat/completions", kChat);
  f.run([] { return false; }, 50);
  CHECK(f.client.cancel(kOwner, id) == OUTRIGGER_OK);
  CHECK(f.client.active() == 0);
  CHECK(f.client.cancel(kOwner, id) == OUTRIGGER_E_STALE);
  f.run([] { return false; }, 50);
  CHECK(r.completions == 0);
}

TEST_CASE("http client: another request's handle cannot cancel a transfer") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"hang","ms":3000}])"));
  Recorder r;
  uint64_t id = f.start(r, "/v1/chat/completions", kChat);
  CHECK(f.client.cancel({3, 8}, id) == OUTRIGGER_E_INVALID);
  f.client.abortOwnedBy(kOwner);
  CHECK(r.completions == 1);
  CHECK(r.error == OUTRIGGER_HTTP_E_CANCELLED);
}

TEST_CASE("http client: a sink that refuses the head aborts the transfer") {
  TRANSPORT_FIXTURE(f);
  Recorder r;
  r.abort_on_head = true;
  f.start(r, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_E_ABORTED);
  CHECK(r.body.empty());
}

TEST_CASE("http client: a refused connection is a connect error") {
  TRANSPORT_FIXTURE(f);
  Recorder r;
  std::string url = "http://127.0.0.1:1/v1/chat/completions";
  outrigger_http_request req{};
  req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
  req.url = {url.data(), url.size()};
  uint64_t id = 0;
  REQUIRE(f.client.start(kOwner, 0, req, Recorder::sink(), &r, &id) == OUTRIGGER_OK);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_E_CONNECT);
  CHECK(r.status == 0);
}

TEST_CASE("http client: bad input is refused synchronously and never calls back") {
  TRANSPORT_FIXTURE(f);
  Recorder r;
  uint64_t id = 0;
  std::string url = "ftp://127.0.0.1/x";
  outrigger_http_request req{};
  req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
  req.url = {url.data(), url.size()};
  CHECK(f.client.start(kOwner, 0, req, Recorder::sink(), &r, &id) == OUTRIGGER_E_INVALID);
  url = f.upstream.baseUrl() + "/v1/chat/completions";
  req.url = {url.data(), url.size()};
  outrigger_http_header evil[] = {{{"x-a", 3}, {"b\r\nx-injected: 1", 17}}};
  req.headers = evil;
  req.header_count = 1;
  CHECK(f.client.start(kOwner, 0, req, Recorder::sink(), &r, &id) == OUTRIGGER_E_INVALID);
  CHECK(r.completions == 0);
}

TEST_CASE("http client: shutdown completes in-flight transfers as cancelled and closes every socket") {
  Recorder r;
  {
    TRANSPORT_FIXTURE(f);
    REQUIRE(f.upstream.script(R"([{"fault":"hang","ms":3000}])"));
    f.start(r, "/v1/chat/completions", kChat);
    f.run([&] { return f.client.openSockets() > 0; }, 1000);
    f.client.shutdown();
    CHECK(f.client.openSockets() == 0);
    CHECK(f.client.active() == 0);
  }
  CHECK(r.completions == 1);
  CHECK(r.error == OUTRIGGER_HTTP_E_CANCELLED);
}

TEST_CASE("http client: pausing on every piece and resuming from the loop loses and stalls nothing") {
  TRANSPORT_FIXTURE(f);
  std::string text(200000, 'y');
  REQUIRE(f.upstream.script(R"([{"fault":"ok","pieces":400,"text":")" + text + R"("}])"));
  Recorder r;
  r.pause_on_body = true;
  uint64_t id = f.start(r, "/v1/chat/completions", kStream);
  int resumes = 0;
  while (!r.done() && resumes < 100000) {
    REQUIRE(f.run([&] { return r.paused || r.done(); }, 5000));
    if (r.done()) break;
    r.paused = false;
    ++resumes;
    REQUIRE(f.client.resume(kOwner, id) == OUTRIGGER_OK);
  }
  CHECK(r.error == OUTRIGGER_HTTP_OK);
  CHECK(r.body.find("data: [DONE]") != std::string::npos);
  CHECK(resumes > 10);
}

TEST_CASE("http client: TLS is verified against the system CA store, a self-signed upstream is refused") {
  std::string dir = outrigger::testing::makeTempDir();
  std::string pem = dir + "/upstream.pem";
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout " + dir +
                    "/k.pem -out " + dir + "/c.pem >/dev/null 2>&1 && cat " + dir + "/c.pem " + dir + "/k.pem > " + pem;
  if (std::system(cmd.c_str()) != 0) {
    WARN("openssl not available: TLS test skipped");
    return;
  }
  UpstreamProcess tls(pem);
  REQUIRE(tls.ready());
  EventLoop loop(0);
  std::string url = tls.baseUrl() + "/v1/chat/completions";
  outrigger_http_request req{};
  req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
  req.url = {url.data(), url.size()};
  req.body = {kChat.data(), kChat.size()};
  Recorder refused, accepted;
  {
    HttpClient verifying(loop.loop());
    uint64_t id = 0;
    REQUIRE(verifying.start(kOwner, 0, req, Recorder::sink(), &refused, &id) == OUTRIGGER_OK);
    REQUIRE(loop.runUntilForTest([&] { return refused.done(); }, 5000));
    HttpClientSettings lax;
    lax.verify_tls = false;  // only to show the same upstream works once trust is not the issue
    HttpClient trusting(loop.loop(), lax);
    REQUIRE(trusting.start(kOwner, 0, req, Recorder::sink(), &accepted, &id) == OUTRIGGER_OK);
    REQUIRE(loop.runUntilForTest([&] { return accepted.done(); }, 5000));
    verifying.shutdown();
    trusting.shutdown();
    loop.runUntilForTest([] { return false; }, 20);
  }
  CHECK(refused.error == OUTRIGGER_HTTP_E_TLS);
  CHECK(accepted.error == OUTRIGGER_HTTP_OK);
  CHECK(accepted.status == 200);
}

TEST_CASE("http client: a pooled connection the upstream closed while idle is replaced without an error") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"close_after_response"}])"));
  Recorder a, b;
  f.start(a, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return a.done(); }));
  f.run([] { return false; }, 100);  // the close reaches the idle connection
  f.start(b, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return b.done(); }));
  CHECK(a.error == OUTRIGGER_HTTP_OK);
  CHECK(b.error == OUTRIGGER_HTTP_OK);
  CHECK(parseJson(f.upstream.log()).Size() == 2);
  CHECK(f.client.counters().sockets_opened == 2);
}

// Closed or reset: libcurl, told of a poll error alone, failed a reset one ("select/poll
// returned error") where it should read the reset and send the request again.
TEST_CASE("http client: a request dropped unanswered on a reused connection is sent once more on a new one") {
  TRANSPORT_FIXTURE(f);
  const std::string fault = GENERATE(std::string("drop_before_head"), std::string("reset_before_head"));
  INFO(fault);
  Recorder a, b;
  f.start(a, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return a.done(); }));
  REQUIRE(f.upstream.script(R"([{"fault":")" + fault + R"("}])"));
  f.start(b, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return b.done(); }));
  CHECK(b.error == OUTRIGGER_HTTP_OK);
  CHECK(b.body.find("Hello from upstream") != std::string::npos);
  CHECK(parseJson(f.upstream.log()).Size() == 3);  // a, the dropped b, b again
  CHECK(f.client.counters().sockets_opened == 2);
}

TEST_CASE("http client: a request dropped unanswered on a fresh connection is a transport error, sent once") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"drop_before_head"}])"));
  Recorder r;
  f.start(r, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_E_TRANSPORT);
  CHECK(r.status == 0);
  CHECK(parseJson(f.upstream.log()).Size() == 1);
}

TEST_CASE("http client: a body cut short of its content-length is a transport error") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"short_body"}])"));
  Recorder r;
  f.start(r, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_E_TRANSPORT);
  CHECK(r.status == 200);
}

TEST_CASE("http client: a body delimited by the connection's close is complete when it closes") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"close_delimited"}])"));
  Recorder r;
  f.start(r, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_OK);
  CHECK(r.body.find("closed by the server") != std::string::npos);
  CHECK(r.body.back() == '}');
}

TEST_CASE("http client: transfers beyond the per-host connection limit wait for a free connection") {
  HttpClientSettings s;
  s.max_host_connections = 1;
  TRANSPORT_FIXTURE(f, s);
  REQUIRE(f.upstream.script(R"([{"fault":"slow_first_byte","ms":150,"repeat":3}])"));
  Recorder r[3];
  for (Recorder& one : r) f.start(one, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return r[0].done() && r[1].done() && r[2].done(); }));
  for (Recorder& one : r) CHECK(one.error == OUTRIGGER_HTTP_OK);
  CHECK(f.client.counters().sockets_opened == 1);
  auto log = parseJson(f.upstream.log());
  REQUIRE(log.Size() == 3);
  CHECK(log[1]["t"].GetDouble() - log[0]["t"].GetDouble() >= 0.14);  // one at a time on the single connection
  CHECK(log[2]["t"].GetDouble() - log[1]["t"].GetDouble() >= 0.14);
}

TEST_CASE("http client: a cancel while every connection is busy takes the waiting transfer out of the queue") {
  HttpClientSettings s;
  s.max_host_connections = 1;
  TRANSPORT_FIXTURE(f, s);
  REQUIRE(f.upstream.script(R"([{"fault":"slow_first_byte","ms":200}])"));
  Recorder first, queued;
  f.start(first, "/v1/chat/completions", kChat);
  uint64_t id = f.start(queued, "/v1/chat/completions", kChat);
  f.run([] { return false; }, 50);
  REQUIRE(f.client.cancel(kOwner, id) == OUTRIGGER_OK);
  REQUIRE(f.run([&] { return first.done(); }));
  f.run([] { return false; }, 100);
  CHECK(first.error == OUTRIGGER_HTTP_OK);
  CHECK(queued.completions == 0);
  CHECK(parseJson(f.upstream.log()).Size() == 1);
  CHECK(f.client.active() == 0);
}

TEST_CASE("http client: a transfer whose request ends inside its own body callback completes after it returns") {
  TRANSPORT_FIXTURE(f);
  Recorder r;
  r.during_body = [&] { f.client.abortOwnedBy(kOwner); };  // e.g. a guardrail denied the first chunk
  f.start(r, "/v1/chat/completions", kStream);
  REQUIRE(f.run([&] { return r.done(); }));
  CHECK(r.error == OUTRIGGER_HTTP_E_CANCELLED);
  CHECK(r.completions == 1);
  CHECK_FALSE(r.completed_inside_body);
  f.run([] { return false; }, 50);
  CHECK(r.completions == 1);
  CHECK(f.client.active() == 0);
}

// A 204 or 304 has no body whatever its Content-Length says; waiting for one stalled the plain
// transport until the idle timeout.
TEST_CASE("http client: a 304 or 204 with a Content-Length completes at once, without a body") {
  TRANSPORT_FIXTURE(f);
  for (int code : {304, 204}) {
    INFO(code);
    REQUIRE(f.upstream.script(R"([{"fault":"no_body_status","code":)" + std::to_string(code) + "}]"));
    Recorder r;
    outrigger_http_request tweak{};
    tweak.idle_timeout_ms = 3000;
    f.start(r, "/v1/chat/completions", kChat, 0, &tweak);
    auto began = std::chrono::steady_clock::now();
    REQUIRE(f.run([&] { return r.done(); }));
    CHECK(r.error == OUTRIGGER_HTTP_OK);
    CHECK(r.result_status == code);
    CHECK(r.body.empty());
    CHECK(std::chrono::steady_clock::now() - began < std::chrono::milliseconds(2000));
  }
}

// libcurl waited for the body a HEAD response's Content-Length names, and sent a GET with a body
// as a POST.
TEST_CASE("http client: HEAD completes without a body, and a GET with a body is sent as a GET") {
  TRANSPORT_FIXTURE(f);
  Recorder head;
  outrigger_http_request as_head{};
  as_head.method = {"HEAD", 4};
  as_head.idle_timeout_ms = 3000;
  f.start(head, "/v1/models", "", 0, &as_head);
  REQUIRE(f.run([&] { return head.done(); }));
  INFO(head.message);
  CHECK(head.error == OUTRIGGER_HTTP_OK);
  CHECK(head.result_status == 200);
  CHECK(head.body.empty());
  Recorder get;
  outrigger_http_request as_get{};
  as_get.method = {"GET", 3};
  f.start(get, "/echo/method", R"({"q":1})", 0, &as_get);
  REQUIRE(f.run([&] { return get.done(); }));
  CHECK(get.body.find(R"("method": "GET")") != std::string::npos);
  CHECK(get.body.find(R"(\"q\":1)") != std::string::npos);
}

// libcurl says "out of memory" for a header line past its limit; it is the upstream's fault, a
// transport error as the plain transport says, so the attempt is retried or falls back.
TEST_CASE("http client: an oversized response header is a transport error on both transports") {
  TRANSPORT_FIXTURE(f);
  REQUIRE(f.upstream.script(R"([{"fault":"huge_header"}])"));
  Recorder r;
  f.start(r, "/v1/chat/completions", kChat);
  REQUIRE(f.run([&] { return r.done(); }));
  INFO(r.message);
  CHECK(r.error == OUTRIGGER_HTTP_E_TRANSPORT);
  CHECK(r.status == 0);  // no head was delivered
}
