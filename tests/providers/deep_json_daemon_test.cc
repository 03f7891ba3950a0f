// JSON nested past 128 levels through the real daemon and its providers, against the scripted
// upstream: socket requests carrying it are refused by the chain before any plugin runs, a
// legitimately nested schema still reaches the upstream intact, and an upstream answering with it
// gets a typed error. The daemon keeps serving throughout.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <outrigger/client.h>

#include "daemon_rig.h"
#include "outrigger_generated.h"
#include "support/daemon_process.h"
#include "support/raw_http.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;

namespace {

constexpr size_t kHostile = 100000;

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// {"type":"object","properties":{"a":{...}}}: a JSON Schema `depth` objects deep.
std::string nestedSchema(size_t depth) {
  std::string out;
  for (size_t i = 1; i < depth; ++i) out += R"({"type":"object","properties":{"a":)";
  out += R"({"type":"string"})";
  for (size_t i = 1; i < depth; ++i) out += "}}";
  return out;
}

// Routes "mock", "openai" and "anthropic", the last two on one scripted upstream (by path).
struct ThreeProviders {
  UpstreamProcess upstream;
  std::unique_ptr<DaemonProcess> daemon;
  std::unique_ptr<client::Client> client;
  explicit ThreeProviders(const std::string& route_extra = "") {
    REQUIRE(upstream.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    std::string config =
        "default_route = \"mock\"\n[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n"
        "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nallow_request_overrides = true\n" +
        openaiInstance("openai", upstream.baseUrl()) +
        "[instances.claude]\ntype = \"provider.anthropic\"\n[instances.claude.config]\nbase_url = \"" +
        upstream.baseUrl() + "\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n" +
        "[routes.mock]\nprovider = \"mock\"\n" +
        "[routes.openai]\nprovider = \"openai\"\nmodel = \"gpt-test\"\n" + route_extra +
        "[routes.anthropic]\nprovider = \"claude\"\nmodel = \"claude-test\"\n" + route_extra +
        "[http]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 1048576\n";
    daemon = std::make_unique<DaemonProcess>(config);
    REQUIRE(daemon->waitReady());
    client = std::make_unique<client::Client>(at(*daemon));
  }
  size_t upstreamRequests() {
    rapidjson::Document log = parseJson(upstream.log());
    return log.IsArray() ? log.Size() : 0;
  }
};

struct End {
  int status = -1;
  std::string message;
};

// Sends one request frame on a fresh connection and reads to its ResponseEnd.
End roundTrip(const DaemonProcess& d, const RequestSpec& spec) {
  RawConnection raw(d.socket());
  REQUIRE(raw.send(helloFrame()));
  REQUIRE(raw.readFrame());
  REQUIRE(raw.send(requestFrame(1, spec)));
  while (auto f = raw.readFrame(std::chrono::seconds(10))) {
    const wire::Frame* frame = wire::GetSizePrefixedFrame(f->data());
    if (frame->body_type() != wire::Body::ResponseEnd) continue;
    const wire::ResponseEnd* e = frame->body_as_ResponseEnd();
    return {int(e->status()), e->message() ? e->message()->str() : std::string()};
  }
  return {};
}

struct Field {
  const char* name;  // as the refusal names it
  void (*apply)(RequestSpec*, const std::string& deep);
};

const Field kFields[] = {
    {"params.extra_json", [](RequestSpec* s, const std::string& deep) { s->extra_json = R"({"vendor":)" + deep + "}"; }},
    {"params.tools[1].parameters_json",
     [](RequestSpec* s, const std::string& deep) { s->tools = {{"fine", "{}"}, {"deep", deep}}; }},
    {"params.response_format.schema_json", [](RequestSpec* s, const std::string& deep) { s->response_schema_json = deep; }},
    {"messages[0].tool_calls[0].arguments", [](RequestSpec* s, const std::string& deep) { s->tool_call_arguments = deep; }},
};

}  // namespace

TEST_CASE("deep json via socket: each JSON field past 128 levels is INVALID_ARGUMENT on every provider, unsent") {
  ThreeProviders rig;
  std::string deep = nested(kHostile);
  for (const char* route : {"mock", "openai", "anthropic"}) {
    for (const Field& field : kFields) {
      INFO(route << " " << field.name);
      RequestSpec spec;
      spec.model = route;
      field.apply(&spec, deep);
      End end = roundTrip(*rig.daemon, spec);
      CHECK(end.status == int(wire::Status::INVALID_ARGUMENT));
      CHECK(end.message == std::string(field.name) + ": JSON nested deeper than 128 levels");
    }
    INFO(route);
    client::ChatRequest normal = ask("still serving");
    normal.model = route;
    auto r = rig.client->chat(normal);
    CHECK(r.ok());
  }
  CHECK(rig.upstreamRequests() == 2);  // only the two normal requests reached the upstream
  CHECK(rig.daemon->alive());
}

TEST_CASE("deep json via socket: 128 levels of extras are accepted, the provider sees them") {
  ThreeProviders rig;
  RequestSpec spec;
  spec.model = "openai";
  spec.extra_json = R"({"vendor":)" + nested(127) + "}";  // the object itself is level 1
  End end = roundTrip(*rig.daemon, spec);
  CHECK(end.status == int(wire::Status::OK));
  rapidjson::Document log = parseJson(rig.upstream.log());
  REQUIRE(log.IsArray());
  REQUIRE(log.Size() == 1);
  CHECK(log[0]["body"]["vendor"].IsArray());
}

TEST_CASE("deep json: a 60-level tool schema reaches the upstream intact through the HTTP front and openai") {
  ThreeProviders rig;
  int port = httpPort(*rig.daemon);
  REQUIRE(port != 0);
  std::string schema = nestedSchema(60);
  std::string body = R"({"model":"openai","messages":[{"role":"user","content":"x"}],)"
                     R"("tools":[{"type":"function","function":{"name":"f","parameters":)" + schema + "}}]}";
  HttpReply reply = testing::roundTrip(port, post(body));
  INFO(reply.body);
  CHECK(reply.status == 200);
  rapidjson::Document log = parseJson(rig.upstream.log());
  REQUIRE(log.IsArray());
  REQUIRE(log.Size() == 1);
  rapidjson::StringBuffer sent;
  rapidjson::Writer<rapidjson::StringBuffer> w(sent);
  log[0]["body"]["tools"][0]["function"]["parameters"].Accept(w);
  CHECK(std::string(sent.GetString(), sent.GetSize()) == schema);
}

TEST_CASE("deep json: an upstream answer nested 100,000 deep is a typed error, retried only as configured") {
  ThreeProviders rig("retry = { max_attempts = 2, base_backoff_ms = 1, max_backoff_ms = 2 }\n");
  for (const char* route : {"openai", "anthropic"}) {
    for (bool stream : {false, true}) {
      INFO(route << (stream ? " stream" : " unary"));
      REQUIRE(rig.upstream.reset());
      REQUIRE(rig.upstream.script(R"([{"fault":"deep_json","repeat":2}])"));
      client::ChatRequest request = ask("hello");
      request.model = route;
      std::string message;
      StatusCode code = StatusCode::kOk;
      if (stream) {
        auto s = rig.client->stream(request);
        client::Chunk chunk;
        while (s.next(&chunk)) {
        }
        if (!s.result().ok()) code = s.result().error().code, message = s.result().error().message;
      } else {
        auto r = rig.client->chat(request);
        if (!r.ok()) code = r.error().code, message = r.error().message;
      }
      CHECK(code == StatusCode::kUnavailable);
      CHECK(message.find("nested deeper than 128 levels") != std::string::npos);
      CHECK(rig.upstreamRequests() == 2);  // max_attempts, then the typed error
    }
  }
  REQUIRE(rig.upstream.reset());
  REQUIRE(rig.upstream.script(R"([{"fault":"deep_json","code":500,"repeat":2}])"));
  client::ChatRequest request = ask("hello");
  request.model = "openai";
  auto r = rig.client->chat(request);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kUnavailable);  // the status decides; the body is unreadable
  for (const char* route : {"openai", "anthropic"}) {
    client::ChatRequest normal = ask("after");
    normal.model = route;
    CHECK(rig.client->chat(normal).ok());
  }
  CHECK(rig.daemon->alive());
}
