// provider.openai through the real daemon against the scripted upstream: answers, streams,
// typed failures, deadlines, and a planted API key that must never leak.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

#include <outrigger/client.h>

#include "outrigger_generated.h"
#include "support/daemon_process.h"
#include "support/raw_http.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;

namespace {

constexpr char kPlantedKey[] = "sk-planted-7f3a9c1e5b2d4a6f8e0c";

std::string openaiConfig(const UpstreamProcess& up, uint32_t first_byte_timeout_ms) {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", kPlantedKey, 1);
  return "[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n"
         "[plugins]\ndirs = [\"@PLUGINS@\"]\n"
         "[instances.openai]\ntype = \"provider.openai\"\n[instances.openai.config]\n"
         "base_url = \"" + up.baseUrl() + "/v1\"\n"
         "api_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n"
         "first_byte_timeout_ms = " + std::to_string(first_byte_timeout_ms) + "\n"
         "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-test\"\n";
}

struct Rig {
  UpstreamProcess upstream;
  std::unique_ptr<DaemonProcess> daemon;
  std::unique_ptr<client::Client> client;
  explicit Rig(uint32_t first_byte_timeout_ms = 2000) {
    REQUIRE(upstream.ready());
    daemon = std::make_unique<DaemonProcess>(openaiConfig(upstream, first_byte_timeout_ms));
    REQUIRE(daemon->waitReady());
    client = std::make_unique<client::Client>(at(*daemon));
  }
  rapidjson::Document log() {
    rapidjson::Document d;
    d.Parse(upstream.log().c_str());
    return d;
  }
};

struct Streamed {
  std::string text;
  int chunks = 0;
  client::Result<client::Response> result = client::Error{};
};

Streamed stream(client::Client& c, const client::ChatRequest& r) {
  Streamed out;
  auto s = c.stream(r);
  client::Chunk chunk;
  while (s.next(&chunk)) {
    out.text += chunk.delta;
    ++out.chunks;
  }
  out.result = s.result();
  return out;
}

}  // namespace

TEST_CASE("openai via daemon: a unary answer keeps usage, finish reason and model, the key is sent") {
  Rig rig;
  auto r = rig.client->chat(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r.value().content == "Hello from upstream");
  CHECK(r.value().finish_reason == "stop");
  CHECK(r.value().model == "gpt-test");
  CHECK(r.value().usage.prompt_tokens == 12);
  CHECK(r.value().usage.completion_tokens == 5);
  CHECK(r.value().usage.cached_tokens == 4);
  CHECK(r.value().usage.reasoning_tokens == 2);
  auto log = rig.log();
  REQUIRE(log.Size() == 1);
  CHECK(std::string(log[0]["path"].GetString()) == "/v1/chat/completions");
  CHECK(std::string(log[0]["headers"]["authorization"].GetString()) == std::string("Bearer ") + kPlantedKey);
  CHECK(std::string(log[0]["body"]["model"].GetString()) == "gpt-test");
  CHECK(std::string(log[0]["body"]["messages"][0]["content"].GetString()) == "hello");
}

TEST_CASE("openai via daemon: a stream arrives in chunks with usage and its finish reason") {
  Rig rig;
  Streamed s = stream(*rig.client, ask("hello"));
  REQUIRE(s.result.ok());
  CHECK(s.text == "Hello from upstream");
  CHECK(s.chunks == 3);
  CHECK(s.result.value().finish_reason == "stop");
  CHECK(s.result.value().usage.prompt_tokens == 12);
  CHECK(s.result.value().usage.cached_tokens == 4);
  auto log = rig.log();
  CHECK(log[0]["body"]["stream_options"]["include_usage"].GetBool());
}

TEST_CASE("openai via daemon: streamed tool-call deltas are assembled into tool calls") {
  Rig rig;
  REQUIRE(rig.upstream.script(
      R"([{"fault":"ok","text":"","tool_calls":[{"id":"call_9","name":"lookup","arguments":"{\"city\":\"Oslo\"}"}]}])"));
  Streamed s = stream(*rig.client, ask("weather?"));
  REQUIRE(s.result.ok());
  CHECK(s.result.value().finish_reason == "tool_calls");
  REQUIRE(s.result.value().tool_calls.size() == 1);
  CHECK(s.result.value().tool_calls[0].id == "call_9");
  CHECK(s.result.value().tool_calls[0].name == "lookup");
  CHECK(s.result.value().tool_calls[0].arguments == "{\"city\":\"Oslo\"}");
}

TEST_CASE("openai via daemon: a 429 is RESOURCE_EXHAUSTED with retry_after_ms, quota is not retryable") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"status","code":429,"headers":{"retry-after":"1"}},
      {"fault":"status","code":429,"error_type":"insufficient_quota","error_code":"insufficient_quota"}])"));
  auto r = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kResourceExhausted);
  CHECK(r.error().retryable);
  CHECK(r.error().retry_after_ms == 1000);
  CHECK(r.error().origin == "provider/openai");
  auto q = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(q.ok());
  CHECK(q.error().code == StatusCode::kResourceExhausted);
  CHECK_FALSE(q.error().retryable);
}

TEST_CASE("openai via daemon: the HTTP front passes on the upstream's own error type and code") {
  // Code written against OpenAI's API tells a prompt that is too long (and trims it) by the code.
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  DaemonProcess d(openaiConfig(upstream, 2000) + "[http]\nlisten = \"127.0.0.1:0\"\n");
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  REQUIRE(upstream.script(R"([{"fault":"status","code":400,"error_type":"invalid_request_error",
      "error_code":"context_length_exceeded"},
      {"fault":"status","code":429,"error_type":"insufficient_quota","error_code":"insufficient_quota"},
      {"fault":"status","code":500}])"));
  std::string body = R"({"model":"default","messages":[{"role":"user","content":"a very long prompt"}]})";
  auto call = [&] { return roundTrip(port, post(body)); };
  HttpReply too_long = call();
  CHECK(too_long.status == 400);
  CHECK(too_long.body.find(R"("type":"invalid_request_error")") != std::string::npos);
  CHECK(too_long.body.find(R"("code":"context_length_exceeded")") != std::string::npos);
  HttpReply quota = call();
  CHECK(quota.status == 429);
  CHECK(quota.body.find(R"("type":"insufficient_quota")") != std::string::npos);
  CHECK(quota.body.find(R"("code":"insufficient_quota")") != std::string::npos);
  HttpReply plain = call();  // no code from the upstream: the status's own name
  CHECK(plain.status == 503);
  CHECK(plain.body.find(R"("code":"unavailable")") != std::string::npos);
}

TEST_CASE("openai via daemon: x-outrigger-route picks a route that names no model, and the caller's model goes upstream") {
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  DaemonProcess d(openaiConfig(upstream, 2000) + "[routes.passthrough]\nprovider = \"openai\"\n" +
                  "[http]\nlisten = \"127.0.0.1:0\"\n");
  REQUIRE(d.waitReady());
  int port = httpPort(d);
  REQUIRE(port);
  std::string routed = post(R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})");
  routed.insert(routed.find("\r\n") + 2, "x-outrigger-route: passthrough\r\n");
  HttpReply reply = roundTrip(port, routed);
  CHECK(reply.status == 200);
  rapidjson::Document log;
  log.Parse(upstream.log().c_str());
  REQUIRE(log.Size() == 1);
  CHECK(std::string(log[0]["body"]["model"].GetString()) == "gpt-4o");
  // Without the header the model still names the route, whose own model goes upstream.
  CHECK(roundTrip(port, post(R"({"model":"default","messages":[{"role":"user","content":"hi"}]})")).status == 200);
  log.Parse(upstream.log().c_str());
  REQUIRE(log.Size() == 2);
  CHECK(std::string(log[1]["body"]["model"].GetString()) == "gpt-test");
}

TEST_CASE("openai via daemon: 500 and 503 are retryable UNAVAILABLE") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"status","code":500},{"fault":"status","code":503}])"));
  for (int i = 0; i < 2; ++i) {
    auto r = rig.client->chat(ask("hello"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StatusCode::kUnavailable);
    CHECK(r.error().retryable);
  }
}

TEST_CASE("openai via daemon: an error body over max_body_bytes keeps its status, so the error is retried") {
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  std::string config = openaiConfig(upstream, 2000);
  config.replace(config.find("[routes.default]"), 0, "max_body_bytes = 1024\n");
  config += "retry = { max_attempts = 2, base_backoff_ms = 1, max_backoff_ms = 2 }\n";
  DaemonProcess d(config);
  REQUIRE(d.waitReady());
  // A proxy's error page larger than the bound: a 503 all the same.
  REQUIRE(upstream.script(R"([{"fault":"status","code":503,"message":")" + std::string(4000, 'x') + R"("},{}])"));
  client::Client c(at(d));
  auto r = c.chat(ask("hello"));
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r.value().content == "Hello from upstream");
  rapidjson::Document log;
  log.Parse(upstream.log().c_str());
  CHECK(log.Size() == 2);
}

TEST_CASE("openai via daemon: a stream cut mid-way or without its terminal event is a typed error") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"reset_mid_stream","after":2,"gap_ms":30},{"fault":"no_terminal"}])"));
  Streamed cut = stream(*rig.client, ask("hello"));
  REQUIRE_FALSE(cut.result.ok());
  CHECK(cut.result.error().code == StatusCode::kUnavailable);
  Streamed open = stream(*rig.client, ask("hello"));
  REQUIRE_FALSE(open.result.ok());
  CHECK(open.result.error().code == StatusCode::kUnavailable);
  CHECK(open.result.error().message.find("terminal event") != std::string::npos);
}

// Some upstreams and proxies end a stream badly after its last event: the body cut short of its
// end, or the connection held open. The answer was whole at [DONE], and it is served.
TEST_CASE("openai via daemon: a stream whose transfer breaks after [DONE] is the whole answer") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"reset_after_terminal","text":"all of it"}])"));
  Streamed whole = stream(*rig.client, ask("hello"));
  INFO((whole.result.ok() ? std::string() : whole.result.error().message));
  REQUIRE(whole.result.ok());
  CHECK(whole.text == "all of it");
  CHECK(whole.result.value().finish_reason == "stop");
  CHECK(rig.log().Size() == 1);  // not retried
}

// A proxy that holds the connection open after [DONE] would hold the caller's end frame until
// the idle timeout (30 s by default): the answer goes a short grace after [DONE], and the
// upstream's own idle connection is given up rather than waited for.
TEST_CASE("openai via daemon: a stream held open after [DONE] ends without waiting for the body's end") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"hold_after_terminal","ms":20000,"text":"all of it","usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}])"));
  auto began = std::chrono::steady_clock::now();
  Streamed whole = stream(*rig.client, ask("hello"));
  auto took = std::chrono::steady_clock::now() - began;
  INFO((whole.result.ok() ? std::string() : whole.result.error().message));
  REQUIRE(whole.result.ok());
  CHECK(whole.text == "all of it");
  CHECK(whole.result.value().usage.completion_tokens == 3);
  CHECK(took < std::chrono::seconds(5));
  CHECK(rig.log().Size() == 1);  // not retried
  auto next = rig.client->chat(ask("again"));  // the daemon serves on, over a new connection
  CHECK(next.ok());
}

// The usage chunk comes just before [DONE]: a stream cut between them was billed in full, and
// the record, the request's usage and the limits must say so.
TEST_CASE("openai via daemon: a stream that fails after its usage chunk keeps that usage in the record") {
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  DaemonProcess d(openaiConfig(upstream, 2000) +
                  "exporters = [\"log\"]\n"
                  "[instances.log]\ntype = \"exporter.jsonl\"\n[instances.log.config]\npath = \"@DIR@/records.jsonl\"\n");
  REQUIRE(d.waitReady());
  REQUIRE(upstream.script(R"([{"fault":"no_terminal","usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}])"));
  client::Client c(at(d));
  Streamed cut = stream(c, ask("hello"));
  REQUIRE_FALSE(cut.result.ok());
  CHECK(cut.result.error().message.find("terminal event") != std::string::npos);
  std::string record = awaitRecords(d, 1);
  INFO(record);
  CHECK(record.find(R"("prompt_tokens":11,"completion_tokens":7)") != std::string::npos);
}

TEST_CASE("openai via daemon: malformed JSON and empty choices are errors, a refusal is content_filter") {
  Rig rig;
  REQUIRE(rig.upstream.script(R"([{"fault":"malformed_json"},{"fault":"empty_choices"},{"fault":"refusal"}])"));
  auto bad = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == StatusCode::kUnavailable);
  auto empty = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message.find("no choices") != std::string::npos);
  auto refusal = rig.client->chat(ask("hello"));
  REQUIRE(refusal.ok());
  CHECK(refusal.value().finish_reason == "content_filter");
  CHECK(refusal.value().content == "I can't help with that.");
}

TEST_CASE("openai via daemon: a hung upstream ends at the request deadline, on time") {
  Rig rig(30000);
  REQUIRE(rig.upstream.script(R"([{"fault":"hang","ms":5000}])"));
  auto req = ask("hello");
  req.timeout = std::chrono::milliseconds(300);
  auto t0 = std::chrono::steady_clock::now();
  auto r = rig.client->chat(req);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kDeadlineExceeded);
  CHECK(r.error().origin != "client");  // the sidecar's own end, not the client giving up
  CHECK(took.count() >= 300);
  CHECK(took.count() < 300 + 1500);  // far below the 5 s hang; room for a busy machine
  // The daemon is still healthy afterwards.
  REQUIRE(rig.upstream.reset());
  CHECK(rig.client->chat(ask("again")).ok());
}

TEST_CASE("openai via daemon: a slow first byte past its timeout is a retryable error") {
  Rig rig(150);
  REQUIRE(rig.upstream.script(R"([{"fault":"slow_first_byte","ms":1000}])"));
  auto r = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kUnavailable);
  CHECK(r.error().retryable);
}

TEST_CASE("openai via daemon: the planted key never appears in errors, the log or check output") {
  Rig rig;
  std::string echoed = std::string("Incorrect API key provided: ") + kPlantedKey;
  REQUIRE(rig.upstream.script(R"([{"fault":"status","code":401,"message":")" + echoed +
                              R"("},{"fault":"status","code":400,"message":")" + echoed + R"("}])"));
  auto a = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == StatusCode::kUnauthenticated);
  CHECK(a.error().message.find(kPlantedKey) == std::string::npos);
  auto b = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().code == StatusCode::kInvalidArgument);
  CHECK(b.error().message.find(kPlantedKey) == std::string::npos);
  CHECK(b.error().message.find("[redacted]") != std::string::npos);
  CHECK(rig.daemon->log().find(kPlantedKey) == std::string::npos);

  std::string cmd = std::string(OUTRIGGER_BIN) + " check --config " + rig.daemon->configPath() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = ::pclose(p);
  CHECK(rc == 0);
  CHECK_FALSE(out.empty());
  CHECK(out.find(kPlantedKey) == std::string::npos);
}

TEST_CASE("openai check: every target of every route is printed with its model and limits, never a key") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", kPlantedKey, 1);
  std::string dir = makeTempDir();
  std::string path = dir + "/check.toml";
  auto instance = [](const std::string& name) {
    return "[instances." + name + "]\ntype = \"provider.openai\"\n[instances." + name + ".config]\n"
           "base_url = \"http://127.0.0.1:9/v1\"\napi_keys = [\"${OUTRIGGER_TEST_OPENAI_KEY}\"]\n"
           "headers = { \"x-extra-key\" = \"${OUTRIGGER_TEST_OPENAI_KEY}\" }\n";
  };
  std::ofstream(path) << "[plugins]\ndirs = [\"" OUTRIGGER_PLUGIN_DIR "\"]\n" + instance("primary") + instance("backup") +
                             instance("solo") +
                             "[routes.default]\nstrategy = \"weighted\"\ntenant_rpm = 30\ntenant_tpm = 9000\n"
                             "targets = [{ provider = \"primary\", model = \"gpt-a\", weight = 3, max_concurrent = 4, "
                             "rpm = 60, tpm = 5000 }, { provider = \"backup\", model = \"gpt-b\", weight = 1 }]\n"
                             "limits = { on_limit = \"queue\", queue_max = 7, queue_timeout_ms = 900 }\n"
                             "hedge = { delay_ms = 250 }\n"
                             "[routes.other]\nprovider = \"solo\"\nmodel = \"gpt-solo\"\n";
  std::string cmd = std::string(OUTRIGGER_BIN) + " check --config " + path + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  CHECK(::pclose(p) == 0);
  outrigger::testing::removeTempDir(dir);
  INFO(out);
  CHECK(out.find("provider   primary") != std::string::npos);
  CHECK(out.find("model gpt-a, weight 3, max_concurrent 4, rpm 60, tpm 5000") != std::string::npos);
  CHECK(out.find("provider   backup") != std::string::npos);
  CHECK(out.find("model gpt-b, weight 1") != std::string::npos);
  CHECK(out.find("provider   solo") != std::string::npos);
  CHECK(out.find("model gpt-solo") != std::string::npos);
  CHECK(out.find("strategy   weighted") != std::string::npos);
  CHECK(out.find("limiter    default.tenant_limits limiter.memory") != std::string::npos);
  CHECK(out.find("on limit   queue (at most 7 waiting, 900 ms)") != std::string::npos);
  CHECK(out.find("hedge      after 250 ms") != std::string::npos);
  CHECK(out.find(kPlantedKey) == std::string::npos);
  CHECK(out.find("x-extra-key") == std::string::npos);
}

TEST_CASE("openai via daemon: a slow reader pauses the upstream transfer and loses nothing") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", kPlantedKey, 1);
  DaemonProcess daemon("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\nwrite_queue_high_water = 8192\n"
                       "write_queue_limit = 67108864\n[plugins]\ndirs = [\"@PLUGINS@\"]\n"
                       "[instances.openai]\ntype = \"provider.openai\"\n[instances.openai.config]\n"
                       "base_url = \"" + up.baseUrl() + "/v1\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n"
                       "idle_timeout_ms = 300\n"
                       "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-test\"\n");
  REQUIRE(daemon.waitReady());
  // 2 MB in 2,000 events: far more than the socket buffer and the 8 KB high watermark.
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    std::string piece = "<" + std::to_string(i) + ">";
    text += piece + std::string(1024 - piece.size(), 'x');
  }
  REQUIRE(up.script(R"([{"fault":"ok","pieces":2000,"text":")" + text + R"("}])"));
  RawConnection raw(daemon.socket());
  REQUIRE(raw.send(helloFrame()));
  REQUIRE(raw.readFrame());
  RequestSpec spec;
  spec.stream = true;
  spec.timeout_ms = 20000;
  REQUIRE(raw.send(requestFrame(1, spec)));
  // Read nothing for longer than the upstream idle timeout: a paused transfer must not time out.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  std::string got;
  bool ended = false;
  int status = -1;
  while (!ended) {
    auto f = raw.readFrame(std::chrono::seconds(10));
    INFO("received " << got.size() << " bytes; daemon log: " << daemon.log());
    REQUIRE(f);
    const wire::Frame* frame = wire::GetSizePrefixedFrame(f->data());
    if (frame->body_type() == wire::Body::ResponseChunk) {
      auto* c = frame->body_as_ResponseChunk();
      if (c->delta()) got += c->delta()->str();
    } else if (frame->body_type() == wire::Body::ResponseEnd) {
      ended = true;
      status = int(frame->body_as_ResponseEnd()->status());
    }
  }
  CHECK(status == 0);
  CHECK(got.size() == text.size());
  CHECK(got == text);
}

namespace {

// The daemon's HTTP front: the port from its startup log, and one request per connection.
int httpPort(DaemonProcess& d) {
  std::smatch m;
  for (int i = 0; i < 500; ++i) {
    std::string log = d.log();
    if (std::regex_search(log, m, std::regex("API listening on 127\\.0\\.0\\.1:(\\d+)"))) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

// POSTs `body` to `path` and returns the whole response (status line, headers, body).
std::string httpPost(int port, const std::string& path, const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req = "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body;
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string bodyOf(const std::string& response) {
  size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

// The scripted upstream behind a daemon whose HTTP front listens on a loopback port.
struct HttpRig {
  UpstreamProcess upstream;
  std::unique_ptr<DaemonProcess> daemon;
  int port = 0;
  HttpRig() {
    REQUIRE(upstream.ready());
    daemon = std::make_unique<DaemonProcess>(openaiConfig(upstream, 2000) + "[http]\nlisten = \"127.0.0.1:0\"\n");
    REQUIRE(daemon->waitReady());
    port = httpPort(*daemon);
    REQUIRE(port != 0);
  }
};

}  // namespace

TEST_CASE("openai via daemon: embeddings ask the upstream for base64 and answer floats or base64") {
  HttpRig rig;
  UpstreamProcess& upstream = rig.upstream;
  const int port = rig.port;

  std::string r = httpPost(port, "/v1/embeddings", R"({"model":"default","input":["abc","hello world"],"dimensions":4})");
  INFO(r);
  REQUIRE(r.rfind("HTTP/1.1 200", 0) == 0);
  rapidjson::Document d;
  d.Parse(bodyOf(r).c_str());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d["data"].Size() == 2);
  const auto& v1 = d["data"][1]["embedding"];
  REQUIRE(v1.Size() == 4);
  CHECK(v1[0].GetDouble() == 11.0);
  CHECK(v1[1].GetDouble() == 1.0);
  CHECK(v1[2].GetDouble() == 0.5);
  CHECK(v1[3].GetDouble() == -1.0);
  CHECK(d["usage"]["prompt_tokens"].GetUint() == 3);
  CHECK(std::string(d["model"].GetString()) == "gpt-test");

  std::string b = httpPost(port, "/v1/embeddings", R"({"model":"default","input":"abc","encoding_format":"base64"})");
  rapidjson::Document bd;
  bd.Parse(bodyOf(b).c_str());
  REQUIRE_FALSE(bd.HasParseError());
  // [3, 0, 0.5, -1] as little-endian float32, base64.
  CHECK(std::string(bd["data"][0]["embedding"].GetString()) == "AABAQAAAAAAAAAA/AACAvw==");

  rapidjson::Document log;
  log.Parse(upstream.log().c_str());
  REQUIRE(log.IsArray());
  REQUIRE(log.Size() == 2);
  const auto& sent = log[0];
  CHECK(std::string(sent["path"].GetString()) == "/v1/embeddings");
  CHECK(std::string(sent["body"]["encoding_format"].GetString()) == "base64");
  CHECK(std::string(sent["body"]["model"].GetString()) == "gpt-test");
  CHECK(sent["body"]["dimensions"].GetUint() == 4);
  CHECK(std::string(sent["headers"]["authorization"].GetString()) == std::string("Bearer ") + kPlantedKey);
}

TEST_CASE("openai via daemon: embeddings failures map like chat") {
  HttpRig rig;
  UpstreamProcess& upstream = rig.upstream;
  const int port = rig.port;
  REQUIRE(upstream.script(R"([{"fault":"status","code":429,"headers":{"retry-after-ms":"1500"}},{"fault":"malformed_json"}])"));
  std::string r = httpPost(port, "/v1/embeddings", R"({"model":"default","input":"x"})");
  INFO(r);
  CHECK(r.rfind("HTTP/1.1 429", 0) == 0);
  CHECK(r.find("retry-after-ms: 1500") != std::string::npos);
  std::string m = httpPost(port, "/v1/embeddings", R"({"model":"default","input":"x"})");
  INFO(m);
  CHECK(m.rfind("HTTP/1.1 503", 0) == 0);
}

// Many OpenAI-compatible servers ignore `dimensions`; their vectors were passed on as asked for.
TEST_CASE("openai via daemon: embeddings of the wrong length, ragged or empty are an error, not a 200") {
  HttpRig rig;
  REQUIRE(rig.upstream.script(R"([{"dims":1024},{"ragged":true},{"dims":0}])"));
  std::string wrong = httpPost(rig.port, "/v1/embeddings", R"({"model":"default","input":"hello","dimensions":256})");
  INFO(wrong);
  CHECK(wrong.rfind("HTTP/1.1 500", 0) == 0);
  CHECK(wrong.find("1024 dimensions, 256 asked") != std::string::npos);
  std::string ragged = httpPost(rig.port, "/v1/embeddings", R"({"model":"default","input":["a","b","c"]})");
  INFO(ragged);
  CHECK(ragged.rfind("HTTP/1.1 500", 0) == 0);
  CHECK(ragged.find("embedding 1 of 5 dimensions after one of 4") != std::string::npos);
  std::string empty = httpPost(rig.port, "/v1/embeddings", R"({"model":"default","input":["a","b"]})");
  INFO(empty);
  CHECK(empty.rfind("HTTP/1.1 500", 0) == 0);
  CHECK(empty.find("an empty embedding 0") != std::string::npos);
  // Said once each: a malformed answer is not retried.
  rapidjson::Document log;
  log.Parse(rig.upstream.log().c_str());
  CHECK(log.Size() == 3);
}

TEST_CASE("openai via daemon: an upstream answer that is not UTF-8 is an error in valid JSON, unary and streamed") {
  HttpRig rig;
  UpstreamProcess& upstream = rig.upstream;
  const int port = rig.port;
  REQUIRE(upstream.script(R"([{"fault":"not_utf8"},{"fault":"not_utf8"},{"fault":"ok"}])"));
  const std::string ask = R"({"model":"default","messages":[{"role":"user","content":"hi"}])";

  std::string unary = httpPost(port, "/v1/chat/completions", ask + "}");
  INFO(unary);
  CHECK(unary.rfind("HTTP/1.1 503", 0) == 0);
  CHECK(unary.find('\xe9') == std::string::npos);  // the upstream's Latin-1 byte never reaches the caller
  rapidjson::Document error;
  error.Parse<rapidjson::kParseValidateEncodingFlag>(bodyOf(unary).c_str());
  REQUIRE(error.IsObject());
  CHECK(std::string(error["error"]["message"].GetString()).find("not valid UTF-8") != std::string::npos);

  std::string streamed = httpPost(port, "/v1/chat/completions", ask + R"(,"stream":true})");
  INFO(streamed);
  CHECK(streamed.find('\xe9') == std::string::npos);
  CHECK(streamed.find("not valid UTF-8") != std::string::npos);
  CHECK(streamed.find("[DONE]") == std::string::npos);  // an error ends it, not a finished answer

  std::string fine = httpPost(port, "/v1/chat/completions", ask + "}");
  CHECK(fine.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(fine.find("Hello from upstream") != std::string::npos);
}

// The host refuses a chunk whose tool call index is past its bound: the provider stopped reading
// without a done, so the request hung until its deadline while the transfer went on (and later
// called back into the call it had freed).
TEST_CASE("openai via daemon: a chunk the host refuses fails the attempt at once, not at the deadline") {
  Rig rig;
  std::string calls;
  for (int i = 0; i < 1025; ++i) {
    calls += std::string(i ? "," : "") + R"({"id":"c)" + std::to_string(i) + R"(","name":"f","arguments":"{}"})";
  }
  REQUIRE(rig.upstream.script(R"([{"fault":"ok","text":"","tool_calls":[)" + calls + "]}]"));
  auto began = std::chrono::steady_clock::now();
  Streamed s = stream(*rig.client, ask("many tools"));
  auto took = std::chrono::steady_clock::now() - began;
  REQUIRE_FALSE(s.result.ok());
  INFO(s.result.error().message);
  CHECK(s.result.error().code == StatusCode::kUnavailable);
  CHECK(took < std::chrono::seconds(10));
  auto next = rig.client->chat(ask("again"));
  CHECK(next.ok());
  CHECK(rig.daemon->alive());
}

TEST_CASE("openai via daemon: events after [DONE] are not part of the answer") {
  Rig rig;
  REQUIRE(rig.upstream.script(
      R"([{"fault":"after_terminal","text":"all of it","then":"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" and more\"}}]}\n\ndata: not json\n\n"}])"));
  Streamed s = stream(*rig.client, ask("hello"));
  INFO((s.result.ok() ? std::string() : s.result.error().message));
  REQUIRE(s.result.ok());
  CHECK(s.text == "all of it");
}
