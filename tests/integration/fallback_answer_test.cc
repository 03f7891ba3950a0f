// A route's degraded answer (fallback_answer) through the real daemon: served, marked, never
// cached, on the socket (unary and streamed) and on the HTTP front.
#include <catch2/catch.hpp>

#include <outrigger/client.h>

#include "support/daemon_process.h"
#include "support/raw_http.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;

namespace {

const char* kFail = R"({"fail": {"code": "UNAVAILABLE", "retryable": true, "message": "upstream down"}})";

std::string degradedConfig() {
  return basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                     "[instances.memory]\ntype = \"cache.memory\"\n"
                     "[routes.sorry]\ncache = \"memory\"\nretry = { max_attempts = 2, base_backoff_ms = 1, max_backoff_ms = 2 }\n"
                     "targets = [{ provider = \"mock\", model = \"m\" }]\n"
                     "fallback_answer = \"The service is unavailable right now.\"\n"
                     "[routes.structured]\ntargets = [{ provider = \"mock\" }]\n"
                     "fallback_answer = { error = \"unavailable\", retry_in_s = 30 }\n"
                     "[http]\nlisten = \"127.0.0.1:0\"\n");
}

client::ChatRequest on(const std::string& route, const std::string& text, const std::string& mock = "") {
  client::ChatRequest r = ask(text, mock);
  r.model = route;
  return r;
}

}  // namespace

TEST_CASE("when every attempt fails the route's fallback_answer is served, marked degraded, and never cached") {
  DaemonProcess d(degradedConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto r = c.chat(on("sorry", "what now?", kFail));
  REQUIRE(r.ok());
  CHECK(r.value().content == "The service is unavailable right now.");
  CHECK(r.value().origin == "fallback/sorry");
  CHECK(r.value().message == "degraded answer: upstream down");
  CHECK(r.value().finish_reason == "stop");

  auto s = c.stream(on("sorry", "and streamed?", kFail));
  std::string joined;
  client::Chunk chunk;
  while (s.next(&chunk)) joined += chunk.delta;
  REQUIRE(s.result().ok());
  CHECK(joined == "The service is unavailable right now.");
  CHECK(s.result().value().origin == "fallback/sorry");

  // The same question once the upstream answers: the degraded answer was not stored.
  auto healthy = c.chat(on("sorry", "what now?", "{}"));
  REQUIRE(healthy.ok());
  CHECK(healthy.value().content == "what now?");
  CHECK_FALSE(healthy.value().cache_hit);
  CHECK(healthy.value().origin.empty());

  auto structured = c.chat(on("structured", "x", kFail));
  REQUIRE(structured.ok());
  CHECK(structured.value().content == R"({"error":"unavailable","retry_in_s":30})");
}

TEST_CASE("a route without fallback_answer still fails typed, and the HTTP front marks a degraded answer") {
  DaemonProcess d(degradedConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto failed = c.chat(ask("no fallback here", kFail));  // the default route has none
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == client::StatusCode::kUnavailable);

  int port = httpPort(d);
  REQUIRE(port);
  std::string body = R"({"model":"sorry","messages":[{"role":"user","content":"x"}],"mock":)" + std::string(kFail) + "}";
  Tcp t(port);
  REQUIRE(t.send(post(body)));
  std::string reply = t.responses(1);
  CHECK(reply.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(reply.find("x-outrigger-degraded: true") != std::string::npos);
  CHECK(reply.find("The service is unavailable right now.") != std::string::npos);
}
