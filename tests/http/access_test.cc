// Who an HTTP caller is, and what the front refuses before the chain: tenants bound to virtual
// keys, the admin token, header values that do not parse, conflicting framing, and the answer a
// draining instance gives. The real daemon as a process, raw HTTP.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/utf8.h"
#include "support/daemon_process.h"
#include "support/raw_http.h"

using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

std::string chatBody(const std::string& text) {
  return R"({"model":"default","messages":[{"role":"user","content":")" + text + R"("}]})";
}

// A chat request with extra header lines ("name: value\r\n" each).
std::string chatWith(const std::string& headers, const std::string& text = "hi") {
  std::string body = chatBody(text);
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string get(const std::string& path, const std::string& headers = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + headers + "\r\n";
}

// The daemon with an HTTP front, an admin listener and a JSONL record of every request.
std::string accessConfig(const std::string& http_extra, const std::string& admin_extra = "") {
  return basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                     "exporters = [\"log\"]\n[instances.log]\ntype = \"exporter.jsonl\"\n"
                     "[instances.log.config]\npath = \"@DIR@/records.jsonl\"\n"
                     "[http]\nlisten = \"127.0.0.1:0\"\n" + http_extra +
                     "[admin]\nlisten = \"127.0.0.1:0\"\n" + admin_extra);
}

const char* kKeys =
    "[[http.virtual_keys]]\nkey = \"key-a\"\ntenant = \"team-a\"\n"
    "[[http.virtual_keys]]\nkey = \"key-ops\"\ntenant = \"ops\"\ntenants = [\"team-a\", \"team-b\"]\n";

}  // namespace

TEST_CASE("without a virtual key every caller is the default tenant, and naming another tenant needs a key") {
  DaemonProcess d(accessConfig(kKeys));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  HttpReply named = roundTrip(port, chatWith("x-outrigger-tenant: team-a\r\n"));
  CHECK(named.status == 403);
  CHECK(named.body.find("needs a virtual key allowed to name it") != std::string::npos);
  CHECK(named.body.find("permission_error") != std::string::npos);
  std::string body = R"({"model":"default","max_tokens":16,"messages":[{"role":"user","content":"x"}]})";
  HttpReply anthropic = roundTrip(port, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-outrigger-tenant: team-a\r\n"
                                        "Content-Type: application/json\r\nContent-Length: " +
                                            std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(anthropic.status == 403);
  CHECK(anthropic.body.find("\"type\":\"permission_error\"") != std::string::npos);  // Anthropic's shape
  CHECK(roundTrip(port, chatWith("Authorization: Bearer not-a-key\r\n")).status == 200);
  CHECK(awaitRecords(d, 1).find("\"tenant\":\"default\"") != std::string::npos);
}

TEST_CASE("a virtual key decides the tenant and may name only the tenants it is allowed") {
  DaemonProcess d(accessConfig(kKeys));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  CHECK(roundTrip(port, chatWith("authorization: bearer key-a\r\n", "lowercase scheme")).status == 200);
  HttpReply other = roundTrip(port, chatWith("Authorization: Bearer key-a\r\nx-outrigger-tenant: team-b\r\n"));
  CHECK(other.status == 403);
  CHECK(other.body.find("may not name tenant 'team-b'") != std::string::npos);
  CHECK(roundTrip(port, chatWith("Authorization: Bearer key-ops\r\nx-outrigger-tenant: team-b\r\n", "ops as b")).status == 200);
  std::string body = R"({"model":"default","max_tokens":16,"messages":[{"role":"user","content":"anthropic key"}]})";
  HttpReply messages = roundTrip(port, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: key-a\r\n"
                                       "anthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n"
                                       "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(messages.status == 200);
  std::string log = awaitRecords(d, 3);
  CHECK(std::count(log.begin(), log.end(), '\n') == 3);
  CHECK(log.find("\"tenant\":\"team-b\"") != std::string::npos);
  CHECK(log.find("\"tenant\":\"team-a\"") != std::string::npos);
}

TEST_CASE("with require_key, chat and the model list both need a key") {
  DaemonProcess d(accessConfig(std::string("require_key = true\n") + kKeys));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  CHECK(roundTrip(port, chatWith("")).status == 401);
  CHECK(roundTrip(port, get("/v1/models")).status == 401);
  HttpReply models = roundTrip(port, get("/v1/models", "Authorization: Bearer key-a\r\n"));
  CHECK(models.status == 200);
  CHECK(models.body.find("\"default\"") != std::string::npos);
}

TEST_CASE("an admin token guards everything but the probes") {
  DaemonProcess d(accessConfig("", "token = \"s3cret\"\n"));
  REQUIRE(d.waitReady());
  int admin = adminPort(d);
  REQUIRE(admin);
  CHECK(roundTrip(admin, get("/metrics")).status == 401);
  CHECK(roundTrip(admin, get("/metrics", "Authorization: Bearer wrong\r\n")).status == 401);
  HttpReply metrics = roundTrip(admin, get("/metrics", "Authorization: Bearer s3cret\r\n"));
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("outrigger_socket_connections") != std::string::npos);
  CHECK(roundTrip(admin, get("/healthz")).status == 200);
  CHECK(roundTrip(admin, get("/readyz")).status == 200);
}

TEST_CASE("the admin server answers local Host names only: a rebound DNS name reaches the port and is refused") {
  DaemonProcess d(accessConfig("", "allowed_hosts = [\"outrigger.internal.example\"]\n"));
  REQUIRE(d.waitReady());
  int admin = adminPort(d);
  REQUIRE(admin);
  auto withHost = [](const std::string& host) { return "GET /metrics HTTP/1.1\r\nHost: " + host + "\r\n\r\n"; };
  std::string port = std::to_string(admin);
  HttpReply rebound = roundTrip(admin, withHost("rebind.attacker.example:" + port));
  CHECK(rebound.status == 421);
  CHECK(rebound.body.find("allowed_hosts") != std::string::npos);
  CHECK(rebound.body.find("outrigger_") == std::string::npos);
  for (const std::string& host : {"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "outrigger-admin:" + port,
                                  "OUTRIGGER.internal.example:" + port}) {
    INFO(host);
    HttpReply r = roundTrip(admin, withHost(host));
    CHECK(r.status == 200);
    CHECK(r.body.find("outrigger_socket_connections") != std::string::npos);
  }
}

TEST_CASE("header values that do not parse are refused with the reason, not ignored") {
  DaemonProcess d(accessConfig(""));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  HttpReply timeout = roundTrip(port, chatWith("x-outrigger-timeout-ms: soon\r\n"));
  CHECK(timeout.status == 400);
  CHECK(timeout.body.find("x-outrigger-timeout-ms must be a positive number") != std::string::npos);
  for (const char* cache : {"nostore", "no-store, keep", "never"}) {
    INFO(cache);
    HttpReply r = roundTrip(port, chatWith(std::string("x-outrigger-cache: ") + cache + "\r\n"));
    CHECK(r.status == 400);
    CHECK(r.body.find("x-outrigger-cache must be bypass, no-store or both") != std::string::npos);
  }
  CHECK(roundTrip(port, chatWith("x-outrigger-cache: Bypass, NO-STORE\r\n")).status == 200);
  // Every line of a repeated header counts, the second as much as the first.
  CHECK(roundTrip(port, chatWith("x-outrigger-cache: bypass\r\nx-outrigger-cache: never\r\n")).status == 400);
  HttpReply route = roundTrip(port, chatWith("x-outrigger-route: no-such-route\r\n"));
  CHECK(route.status == 400);
  CHECK(route.body.find("x-outrigger-route names no route: 'no-such-route'") != std::string::npos);
  HttpReply text = roundTrip(port, chatWith("x-outrigger-user: \xff\xfe\r\n"));
  CHECK(text.status == 400);
  CHECK(text.body.find("x-outrigger-user is not valid UTF-8") != std::string::npos);
  HttpReply long_session = roundTrip(port, chatWith("x-outrigger-session: " + std::string(300, 's') + "\r\n"));
  CHECK(long_session.status == 400);
  CHECK(long_session.body.find("metadata.session is longer than 256 bytes") != std::string::npos);
  std::string body = R"({"model":"default","messages":[{"role":"user","content":"hi"}],"user":")" + std::string(300, 'u') + R"("})";
  HttpReply long_user = roundTrip(port, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                                        "application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(long_user.status == 400);
  CHECK(long_user.body.find("metadata.user is longer than 256 bytes") != std::string::npos);
  // An empty tag key is left out of the request (a key is optional on the wire): the refusal of
  // its long value must not need one.
  body = R"({"model":"default","messages":[{"role":"user","content":"hi"}],"metadata":{"":")" + std::string(3000, 'v') +
         R"("}})";
  HttpReply keyless = roundTrip(port, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                                      "application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(keyless.status == 400);
  CHECK(keyless.body.find("metadata.tags value of '' is longer than 2048 bytes") != std::string::npos);
  // An escaped lone surrogate is valid JSON text, but RapidJSON decodes it to bytes that are not
  // UTF-8: refused as on the socket, on every endpoint that takes text.
  auto postTo = [&](const std::string& path, const std::string& json) {
    return roundTrip(port, "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                           "anthropic-version: 2023-06-01\r\nContent-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json);
  };
  const std::string lone = R"(x\udc00 call me at a@b.com)";
  HttpReply chat = postTo("/v1/chat/completions", R"({"model":"default","messages":[{"role":"user","content":")" + lone + R"("}]})");
  CHECK(chat.status == 400);
  CHECK(chat.body.find("not valid UTF-8") != std::string::npos);
  HttpReply messages = postTo("/v1/messages", R"({"model":"default","max_tokens":5,"messages":[{"role":"user","content":")" + lone + R"("}]})");
  CHECK(messages.status == 400);
  CHECK(messages.body.find("not valid UTF-8") != std::string::npos);
  HttpReply embeddings = postTo("/v1/embeddings", R"({"model":"default","input":")" + lone + R"("})");
  CHECK(embeddings.status == 400);
  CHECK(embeddings.body.find("not valid UTF-8") != std::string::npos);
  HttpReply paired = postTo("/v1/chat/completions", R"({"model":"default","messages":[{"role":"user","content":"\ud83d\ude00"}]})");
  CHECK(paired.status == 200);  // a surrogate pair is one character
  CHECK(d.alive());
  CHECK(roundTrip(port, chatWith("x-outrigger-timeout-ms: 5000\r\nx-outrigger-route: default\r\n")).status == 200);
}

TEST_CASE("the SDKs' deadline headers: x-stainless-timeout, and x-stainless-read-timeout alone for a unary call") {
  DaemonProcess d(accessConfig(""));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  std::string hang = R"({"model":"default","messages":[{"role":"user","content":"x"}],"mock":{"hang":true}})";
  auto hangingWith = [&](const std::string& header) {
    return "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" + header +
           "\r\nContent-Length: " + std::to_string(hang.size()) + "\r\n\r\n" + hang;
  };
  for (const char* header : {"x-stainless-timeout: 0.3", "x-stainless-read-timeout: 0.3"}) {
    INFO(header);
    auto t0 = std::chrono::steady_clock::now();
    HttpReply r = roundTrip(port, hangingWith(header));
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(r.status == 504);  // just after the SDK would give up, not at the server's 60 s default
    CHECK(took >= 1290ms);   // the SDK's 0.3 s, then a second's grace for its own timeout to win
    CHECK(took < 6s);
  }
}

TEST_CASE("a stream takes no deadline from the SDK timeout headers or the short default, only max_timeout_ms") {
  // A 1 s default: the two-second stream below outlives it, as long answers outlive 60 s.
  std::string config = accessConfig("");
  DaemonProcess d("[server]\ndefault_timeout_ms = 1000\n" + config.substr(std::string("[server]\n").size()));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  // Four chunks 500 ms apart: two seconds in all, past the 0.3 s timeout and its second of grace.
  std::string slow = R"({"model":"default","stream":true,"messages":[{"role":"user","content":"a b c d"}],)"
                     R"("mock":{"chunks":4,"chunk_interval_ms":500}})";
  for (const char* header : {"x-stainless-timeout: 0.3", "x-stainless-read-timeout: 0.3", "x-no-deadline: 1"}) {
    INFO(header);
    Tcp c(port);
    REQUIRE(c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
                   std::string(header) + "\r\nContent-Length: " + std::to_string(slow.size()) + "\r\n\r\n" + slow));
    std::string r = c.readUntil([](const std::string& s) { return s.find("[DONE]") != std::string::npos ||
                                                                  s.find("\"error\"") != std::string::npos; }, 10s);
    CHECK(r.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(r.find("deadline") == std::string::npos);
    CHECK(r.find("data: [DONE]") != std::string::npos);
  }
}

TEST_CASE("a model no route serves is 404 model_not_found as OpenAI answers it, and Anthropic's dialect gets its request-id") {
  // Two routes and no default_route: a model named by neither has no route.
  DaemonProcess d(basicConfig("mode = \"echo\"", "[routes.other]\nprovider = \"mock\"\n[http]\nlisten = \"127.0.0.1:0\"\n"));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  std::string body = R"({"model":"no-such-model","messages":[{"role":"user","content":"hi"}]})";
  HttpReply r = roundTrip(port, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(r.status == 404);
  CHECK(r.body.find(R"("code":"model_not_found")") != std::string::npos);
  CHECK(r.body.find("no route for model 'no-such-model'") != std::string::npos);
  CHECK(roundTrip(port, get("/v1/models/no-such-model")).status == 404);  // what chat would say of it
  CHECK(roundTrip(port, get("/v1/models/other")).status == 200);

  std::string claude = R"({"model":"default","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})";
  Tcp c(port);
  REQUIRE(c.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-request-id: req-abc\r\n"
                 "Content-Length: " + std::to_string(claude.size()) + "\r\n\r\n" + claude));
  std::string reply = c.responses(1);
  CHECK(reply.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(reply.find("\r\nrequest-id: req-abc\r\n") != std::string::npos);
}

TEST_CASE("a model the default route would serve can be looked up, as clients check one before they use it") {
  DaemonProcess d(accessConfig(""));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  HttpReply r = roundTrip(port, get("/v1/models/gpt-4o"));
  CHECK(r.status == 200);
  CHECK(r.body.find(R"("id":"gpt-4o")") != std::string::npos);
}

TEST_CASE("two differing Content-Length headers are refused and the connection closed") {
  DaemonProcess d(accessConfig(""));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  std::string body = chatBody("smuggled?");
  for (const std::string& second : {std::string("5"), std::to_string(body.size())}) {
    Tcp c(port);
    REQUIRE(c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\ncontent-length: " + second + "\r\n\r\n" + body));
    bool closed = false;
    std::string r = c.readUntil([](const std::string& s) { return Tcp::completeResponses(s) >= 1; }, 3s, &closed);
    if (second == "5") {
      CHECK(r.rfind("HTTP/1.1 400", 0) == 0);
      CHECK(r.find("conflicting Content-Length") != std::string::npos);
      c.readUntil([](const std::string&) { return false; }, 3s, &closed);
      CHECK(closed);
    } else {
      CHECK(r.rfind("HTTP/1.1 200", 0) == 0);  // the same value twice is no conflict
    }
  }
}

TEST_CASE("while draining, a request is told to retry elsewhere on a new connection") {
  DaemonProcess d(accessConfig(""));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  // A request in flight keeps the daemon draining; a second connection is mid-request when the
  // drain begins, so it is not idle and is not closed before it asks.
  Tcp busy(port);
  std::string hang = R"({"model":"default","messages":[{"role":"user","content":"x"}],"mock":{"hang":true}})";
  REQUIRE(busy.send(post(hang)));
  Tcp late(port);
  std::string request = chatWith("");
  REQUIRE(late.send(request.substr(0, 20)));
  std::this_thread::sleep_for(200ms);
  d.signal(SIGTERM);
  std::this_thread::sleep_for(200ms);
  REQUIRE(late.send(request.substr(20)));
  std::string r = late.responses(1);
  CHECK(r.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(r.find("x-should-retry: true") != std::string::npos);
  CHECK(r.find("onnection: close") != std::string::npos);
}

TEST_CASE("Content-Length together with Transfer-Encoding is refused, the connection closed, and what follows never answered") {
  DaemonProcess d(accessConfig(""));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  std::string body = chatBody("smuggled?");
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  std::string chunked = std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n";
  // A proxy going by Content-Length takes the second request for part of the first body.
  std::string smuggled = "GET /v1/models/SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n";
  Tcp c(port);
  REQUIRE(c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(chunked.size() + smuggled.size()) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked +
                 smuggled));
  bool closed = false;
  std::string r = c.readUntil([](const std::string&) { return false; }, 3s, &closed);
  CHECK(r.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(r.find("both Content-Length and Transfer-Encoding headers") != std::string::npos);
  CHECK(Tcp::completeResponses(r) == 1);
  CHECK(r.find("SMUGGLED") == std::string::npos);
  CHECK(closed);
}

TEST_CASE("error bodies quoting what the caller sent stay valid UTF-8 JSON") {
  DaemonProcess d(accessConfig(kKeys));
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  auto validJson = [](const std::string& body) {
    rapidjson::Document doc;
    return outrigger::validUtf8(body) && !doc.Parse(body.c_str()).HasParseError();
  };
  HttpReply path = roundTrip(port, get("/v1/%FF%C0x"));
  CHECK(path.status == 404);
  CHECK(validJson(path.body));
  CHECK(path.body.find("unknown path /\xEF\xBF\xBD\xEF\xBF\xBDx") != std::string::npos);  // U+FFFD for each bad byte
  HttpReply model = roundTrip(port, get("/v1/models/%FFx"));
  CHECK(model.status == 200);  // the default route takes any model
  CHECK(validJson(model.body));
  HttpReply tenant = roundTrip(port, chatWith("x-outrigger-tenant: \xff\r\n"));
  CHECK(tenant.status == 403);
  CHECK(validJson(tenant.body));
  HttpReply keyed = roundTrip(port, chatWith("Authorization: Bearer key-a\r\nx-outrigger-tenant: t\xc0\r\n"));
  CHECK(keyed.status == 403);
  CHECK(validJson(keyed.body));
}
