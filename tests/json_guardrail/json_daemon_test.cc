// guardrail.json in the real daemon, as a process, in front of the scripted upstream
// (tests/upstream/upstream.py) through provider.openai, on the socket and the HTTP fronts: a
// re-ask that repairs the answer (the upstream sees the repair prompt quoting the error), the
// typed error once re-asks run out, hallucinated tool calls, held streams the client only sees
// valid, cut-off answers denied or continued, hostile caller schemas, metrics and hot reload.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <signal.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/plugin.h>

#include "daemon_rig.h"
#include "outrigger_generated.h"
#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/raw_http.h"
#include "support/socket_answer.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

const char kPersonSchema[] =
    R"({"type":"object","required":["name","age"],"additionalProperties":false,)"
    R"("properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}}})";
const char kWeatherParams[] = R"({"type":"object","required":["city"],"properties":{"city":{"type":"string"}}})";
const char kValid[] = R"({"name":"Ann","age":41})";

// One worker, provider.openai on the scripted upstream, guardrail.json with `json_config`, a
// JSONL record of every request, an HTTP front and an admin listener.
struct Rig {
  UpstreamProcess upstream;
  std::unique_ptr<DaemonProcess> daemon;

  explicit Rig(const std::string& json_config = "", const std::string& route_extra = "max_reasks = 1\n") {
    REQUIRE(upstream.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    daemon = std::make_unique<DaemonProcess>(config(json_config, route_extra));
    REQUIRE(daemon->waitReady());
  }

  std::string config(const std::string& json_config, const std::string& route_extra) const {
    return "[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
           openaiInstance("openai", upstream.baseUrl()) +
           "[instances.structured]\ntype = \"guardrail.json\"\n[instances.structured.config]\n" + json_config + "\n" +
           "[instances.log]\ntype = \"exporter.jsonl\"\n[instances.log.config]\npath = \"@DIR@/records.jsonl\"\n" +
           "[routes.default]\nguardrails = [\"structured\"]\nprovider = \"openai\"\nmodel = \"gpt-test\"\n"
           "exporters = [\"log\"]\n" + route_extra +
           "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n";
  }

  // Queues the upstream's next answers: each a text (with `finish_reason`, stop when empty).
  void answers(const std::vector<std::string>& texts, const std::string& finish_reason = "") {
    std::string steps = "[";
    for (size_t i = 0; i < texts.size(); ++i) {
      steps += std::string(i ? "," : "") + R"({"text":)" + jsonQuoted(texts[i]) + R"(,"pieces":4)" +
               (finish_reason.empty() ? "" : R"(,"finish_reason":")" + finish_reason + "\"") + "}";
    }
    REQUIRE(upstream.script(steps + "]"));
  }

  // The bodies the upstream received, in order.
  rapidjson::Document log() { return parseJson(upstream.log()); }
  size_t requests() {
    rapidjson::Document l = log();
    return l.IsArray() ? l.Size() : 0;
  }
  // The content of the last message of upstream request `i`.
  std::string lastMessage(size_t i) {
    rapidjson::Document l = log();
    REQUIRE(l.IsArray());
    REQUIRE(l.Size() > i);
    const auto& messages = l[static_cast<rapidjson::SizeType>(i)]["body"]["messages"];
    const auto& last = messages[messages.Size() - 1];
    return last["content"].IsString() ? last["content"].GetString() : "";
  }
};

using Answer = SocketAnswer;
Answer exchange(const DaemonProcess& d, const RequestSpec& spec) { return socketExchange(d, spec, "structured"); }

RequestSpec personRequest(bool stream = false) {
  RequestSpec spec;
  spec.messages = {{"user", "Who is Ann? Answer as JSON."}};
  spec.response_schema_json = kPersonSchema;
  spec.stream = stream;
  return spec;
}

RequestSpec weatherRequest() {
  RequestSpec spec;
  spec.messages = {{"user", "Weather in Oslo?"}};
  spec.tools = {{"get_weather", kWeatherParams}};
  return spec;
}

std::string toolStep(const std::string& name, const std::string& arguments) {
  return R"({"tool_calls":[{"id":"call_1","name":")" + name + R"(","arguments":)" + jsonQuoted(arguments) + "}]}";
}

std::string chatBody(const std::string& extra, bool stream = false) {
  return R"({"model":"default","stream":)" + std::string(stream ? "true" : "false") +
         R"(,"messages":[{"role":"user","content":"Who is Ann?"}],)" + extra + "}";
}

const std::string kHttpFormat = R"("response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":)" +
                                std::string(kPersonSchema) + "}}";

// The text of an SSE chat completion stream: every delta's content, joined (JSON-unescaped for quotes).
std::string sseContent(const std::string& body) {
  std::string out;
  const std::string key = "\"content\":\"";
  for (size_t at = body.find(key); at != std::string::npos; at = body.find(key, at)) {
    at += key.size();
    for (; at < body.size() && body[at] != '"'; ++at) {
      if (body[at] == '\\' && at + 1 < body.size()) ++at;
      out += body[at];
    }
  }
  return out;
}

}  // namespace

TEST_CASE("socket: an invalid answer is re-asked with the errors quoted, and the repaired one is served") {
  Rig rig;
  rig.answers({R"({"name":"Ann","age":-4})", kValid});
  Answer a = exchange(*rig.daemon, personRequest());
  INFO(a.message);
  REQUIRE(a.status == OUTRIGGER_CODE_OK);
  CHECK(a.content == kValid);
  CHECK(a.verdict == 1);  // flag: it took a re-ask
  CHECK(a.verdict_reason.find("re-ask 1 of 1") != std::string::npos);
  REQUIRE(rig.requests() == 2);
  std::string repair = rig.lastMessage(1);
  CHECK(repair.find("not accepted") != std::string::npos);
  CHECK(repair.find("/age") != std::string::npos);
  CHECK(repair.find("matching the schema \"answer\"") != std::string::npos);
  // The host put the invalid answer back as the assistant's turn before the repair prompt.
  rapidjson::Document log = rig.log();
  const auto& messages = log[1]["body"]["messages"];
  REQUIRE(messages.Size() == 3);
  CHECK(std::string(messages[1]["role"].GetString()) == "assistant");
  CHECK(std::string(messages[1]["content"].GetString()) == R"({"name":"Ann","age":-4})");
  std::string record = awaitRecords(*rig.daemon, 1);
  CHECK(record.find(R"("guardrail":"structured","verdict":"flag")") != std::string::npos);
}

TEST_CASE("socket: an answer still invalid after max_reasks ends FAILED_PRECONDITION with the errors") {
  Rig rig;
  rig.answers({"Ann is 41.", R"({"name":"Ann"})"});
  Answer a = exchange(*rig.daemon, personRequest());
  CHECK(a.status == OUTRIGGER_CODE_FAILED_PRECONDITION);
  CHECK(a.message.rfind("structured output invalid: ", 0) == 0);
  CHECK(a.message.find("age") != std::string::npos);
  CHECK(a.message.find("after 1 re-ask") != std::string::npos);
  CHECK(a.verdict == 2);
  CHECK(rig.requests() == 2);
  CHECK(rig.lastMessage(1).find("not JSON") != std::string::npos);
  std::string record = awaitRecords(*rig.daemon, 1);
  CHECK(record.find(R"("guardrail":"structured","verdict":"deny")") != std::string::npos);
}

TEST_CASE("socket: a fenced answer passes as the bare value, with no re-ask") {
  Rig rig;
  rig.answers({std::string("Here you go:\n```json\n") + kValid + "\n```\nAnything else?"});
  Answer a = exchange(*rig.daemon, personRequest());
  REQUIRE(a.status == OUTRIGGER_CODE_OK);
  CHECK(a.content == kValid);
  CHECK(a.verdict == 3);  // rewrite
  CHECK(rig.requests() == 1);
  std::string record = awaitRecords(*rig.daemon, 1);
  CHECK(record.find(R"("guardrail":"structured","verdict":"rewrite")") != std::string::npos);
}

TEST_CASE("socket: a hallucinated function is re-asked naming the declared ones, then denied with the typed error") {
  Rig rig;
  REQUIRE(rig.upstream.script("[" + toolStep("delete_everything", "{}") + "," + toolStep("delete_everything", "{}") + "]"));
  Answer a = exchange(*rig.daemon, weatherRequest());
  CHECK(a.status == OUTRIGGER_CODE_FAILED_PRECONDITION);
  CHECK(a.message.rfind("tool call invalid: ", 0) == 0);
  CHECK(a.message.find("no function named \"delete_everything\" (declared: get_weather)") != std::string::npos);
  REQUIRE(rig.requests() == 2);
  CHECK(rig.lastMessage(1).find("delete_everything") != std::string::npos);
}

TEST_CASE("socket: tool arguments that break the parameters are repaired by the re-ask") {
  Rig rig;
  REQUIRE(rig.upstream.script("[" + toolStep("get_weather", R"({"town":"Oslo"})") + "," +
                              toolStep("get_weather", R"({"city":"Oslo"})") + "]"));
  Answer a = exchange(*rig.daemon, weatherRequest());
  INFO(a.message);
  REQUIRE(a.status == OUTRIGGER_CODE_OK);
  REQUIRE(a.tool_calls.size() == 1);
  CHECK(a.tool_calls[0].first == "get_weather");
  CHECK(a.tool_calls[0].second == R"({"city":"Oslo"})");
  CHECK(rig.requests() == 2);
  CHECK(rig.lastMessage(1).find("city") != std::string::npos);
}

TEST_CASE("socket: a held stream reaches the client only once checked, a fenced one as its bare value") {
  Rig rig;
  rig.answers({std::string("Sure:\n```json\n") + kValid + "\n```"});
  Answer a = exchange(*rig.daemon, personRequest(/*stream=*/true));
  INFO(a.message);
  REQUIRE(a.status == OUTRIGGER_CODE_OK);
  CHECK(a.streamed == kValid);
  for (const std::string& c : a.chunks) CHECK(c.find("```") == std::string::npos);
  CHECK(a.verdict == 3);  // rewrite
  CHECK(rig.requests() == 1);
  CHECK(rig.log()[0]["body"]["stream"].IsTrue());
}

TEST_CASE("socket: a held stream that fails is re-asked, and the client gets only the repaired answer") {
  Rig rig;
  rig.answers({R"({"name":"Ann","age":"forty-one"})", kValid});
  Answer a = exchange(*rig.daemon, personRequest(/*stream=*/true));
  INFO(a.message);
  REQUIRE(a.status == OUTRIGGER_CODE_OK);
  CHECK(a.streamed == kValid);
  for (const std::string& c : a.chunks) CHECK(c.find("forty-one") == std::string::npos);
  REQUIRE(rig.requests() == 2);
  CHECK(rig.log()[1]["body"]["stream"].IsTrue());
  CHECK(rig.lastMessage(1).find("/age") != std::string::npos);  // the repair prompt quotes the error
  // Recorded as the unary re-ask is: a flag naming the re-ask, not a rewrite of what was held.
  CHECK(a.verdict == 1);
  CHECK(a.verdict_reason.find("re-ask 1 of 1") != std::string::npos);
  // The assistant turn of a held answer is left out (its text is quoted in the repair prompt):
  // an empty one is refused by Anthropic.
  rapidjson::Document log = rig.log();
  for (const auto& m : log[1]["body"]["messages"].GetArray()) {
    if (std::string(m["role"].GetString()) == "assistant") CHECK(m["content"].GetStringLength() > 0);
  }
}

TEST_CASE("socket: a held stream still failing after the re-asks ends with the typed error and no chunk of it") {
  Rig rig;
  rig.answers({R"({"name":"Ann","age":"forty-one"})", R"({"name":"Ann","age":"forty-two"})",
               R"({"name":"Ann","age":"forty-three"})"});
  Answer a = exchange(*rig.daemon, personRequest(/*stream=*/true));
  CHECK(a.status == OUTRIGGER_CODE_FAILED_PRECONDITION);
  CHECK(a.message.find("/age") != std::string::npos);
  CHECK(a.streamed.empty());
  CHECK(a.chunks.empty());
}

TEST_CASE("socket: a hallucinated function in a held stream ends the stream denied, its deltas never sent") {
  Rig rig;
  REQUIRE(rig.upstream.script("[" + toolStep("delete_everything", R"({"all":true})") + "]"));
  RequestSpec spec = weatherRequest();
  spec.stream = true;
  Answer a = exchange(*rig.daemon, spec);
  CHECK(a.status == OUTRIGGER_CODE_PERMISSION_DENIED);
  CHECK(a.message.find("no function named \"delete_everything\"") != std::string::npos);
  CHECK(a.chunks.empty());
  CHECK(rig.requests() == 1);
}

TEST_CASE("socket: with streaming = check_at_end chunks flow, and an invalid answer ends the stream denied") {
  Rig rig("streaming = \"check_at_end\"");
  rig.answers({"not json at all"});
  Answer a = exchange(*rig.daemon, personRequest(/*stream=*/true));
  CHECK(a.status == OUTRIGGER_CODE_PERMISSION_DENIED);
  CHECK(a.message.find("structured output invalid") != std::string::npos);
  CHECK(a.streamed == "not json at all");  // it went out before the end
  CHECK(rig.requests() == 1);
}

// With nothing to check in it (no JSON format, no tools), an unheld stream was still copied whole
// and, past 8 MiB, stopped at its end as "too long to check".
TEST_CASE("socket: a long streamed answer with nothing to check goes through whole") {
  Rig rig;
  const std::string story(9u << 20, 'a');
  REQUIRE(rig.upstream.script(R"([{"text":)" + jsonQuoted(story) + R"(,"pieces":96}])"));
  RequestSpec spec;
  spec.messages = {{"user", "a long story"}};
  spec.stream = true;
  Answer a = exchange(*rig.daemon, spec);
  INFO(a.message);
  CHECK(a.status == OUTRIGGER_CODE_OK);
  CHECK(a.streamed.size() == story.size());
}

TEST_CASE("socket: an answer cut off at max_tokens is the typed error, not re-asked") {
  Rig rig;
  rig.answers({R"({"name":"Ann","ag)"}, "length");
  Answer a = exchange(*rig.daemon, personRequest());
  CHECK(a.status == OUTRIGGER_CODE_FAILED_PRECONDITION);
  CHECK(a.message.find("structured output incomplete: the answer was cut off at max_tokens") != std::string::npos);
  CHECK(rig.requests() == 1);
}

TEST_CASE("socket: with on_truncated = continue an answer cut off at max_tokens is continued and joined, unary or held") {
  Rig rig("on_truncated = \"continue\"");
  rig.answers({R"({"name":"Ann",)"}, "length");
  rig.answers({R"("age":41})"});
  SECTION("unary") {
    Answer a = exchange(*rig.daemon, personRequest());
    INFO(a.message);
    REQUIRE(a.status == OUTRIGGER_CODE_OK);
    CHECK(a.content == R"({"name":"Ann","age":41})");
    CHECK(rig.lastMessage(1).find("Continue exactly where it stopped") != std::string::npos);
    CHECK(rig.requests() == 2);
  }
  SECTION("held stream: continued too, the client gets the joined answer") {
    Answer a = exchange(*rig.daemon, personRequest(/*stream=*/true));
    INFO(a.message);
    REQUIRE(a.status == OUTRIGGER_CODE_OK);
    CHECK(a.streamed == R"({"name":"Ann","age":41})");
    CHECK(rig.requests() == 2);
  }
}

TEST_CASE("http: repaired answers are 200, invalid ones 400 with the errors, streams show only valid JSON") {
  Rig rig;
  const int port = httpPort(*rig.daemon);
  REQUIRE(port > 0);
  rig.answers({"{\"name\":1}", kValid});
  HttpReply ok = roundTrip(port, post(chatBody(kHttpFormat)));
  CHECK(ok.status == 200);
  CHECK(ok.body.find(R"(\"name\":\"Ann\")") != std::string::npos);
  CHECK(rig.requests() == 2);
  CHECK(rig.lastMessage(1).find("matching the schema \"person\"") != std::string::npos);

  REQUIRE(rig.upstream.reset());
  rig.answers({"{}", "{}"});
  HttpReply bad = roundTrip(port, post(chatBody(kHttpFormat)));
  CHECK(bad.status == 400);
  CHECK(bad.body.find("structured output invalid") != std::string::npos);
  CHECK(bad.body.find("Missing required property") != std::string::npos);

  REQUIRE(rig.upstream.reset());
  rig.answers({std::string("```json\n") + kValid + "\n```", "[1,2]", "[3]"});
  {
    Tcp s(port);
    REQUIRE(s.send(post(chatBody(kHttpFormat, /*stream=*/true))));
    std::string sse = s.readUntil([](const std::string& t) { return t.find("[DONE]") != std::string::npos; }, 10s);
    CHECK(sseContent(sse) == kValid);
    CHECK(sse.find("```") == std::string::npos);
  }
  {
    Tcp s(port);
    REQUIRE(s.send(post(chatBody(kHttpFormat, /*stream=*/true))));
    std::string sse = s.readUntil([](const std::string& t) { return t.find("structured output invalid") != std::string::npos; }, 10s);
    CHECK(sse.find("structured output invalid") != std::string::npos);
    CHECK(sse.find("[1,2]") == std::string::npos);  // held, re-asked, and held again: never sent
    CHECK(sse.find("[3]") == std::string::npos);
  }

  std::string metrics = adminMetricsText(*rig.daemon);
  CHECK(metrics.find(R"(outrigger_json_answers_total{plugin_instance="structured",outcome="reask"} 3)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_json_answers_total{plugin_instance="structured",outcome="denied"} 2)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_json_answers_total{plugin_instance="structured",outcome="valid"} 2)") != std::string::npos);
}

TEST_CASE("http: a hallucinated tool call is 400 naming it, a declared one passes") {
  Rig rig("max_reasks = 0", "max_reasks = 0\n");
  const int port = httpPort(*rig.daemon);
  REQUIRE(port > 0);
  const std::string tools =
      R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":)" + std::string(kWeatherParams) + "}}]";
  REQUIRE(rig.upstream.script("[" + toolStep("transfer_funds", R"({"to":"x"})") + "," +
                              toolStep("get_weather", R"({"city":"Oslo"})") + "]"));
  HttpReply denied = roundTrip(port, post(chatBody(tools)));
  CHECK(denied.status == 400);
  CHECK(denied.body.find("no function named") != std::string::npos);
  CHECK(denied.body.find("transfer_funds") != std::string::npos);
  HttpReply passed = roundTrip(port, post(chatBody(tools)));
  CHECK(passed.status == 200);
  CHECK(passed.body.find("get_weather") != std::string::npos);
  CHECK(rig.requests() == 2);
  std::string records = awaitRecords(*rig.daemon, 2);
  CHECK(records.find(R"("guardrail":"structured","verdict":"deny")") != std::string::npos);
  CHECK(records.find(R"("guardrail":"structured","verdict":"pass")") != std::string::npos);
}

TEST_CASE("http: hostile caller schemas are refused 400 before the upstream, and the daemon serves on") {
  Rig rig;
  const int port = httpPort(*rig.daemon);
  REQUIRE(port > 0);
  auto format = [](const std::string& schema) {
    return R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":)" + schema + "}}";
  };
  for (const char* schema : {R"({"$ref":"#"})", R"({"allOf":[{"$ref":"#"}]})", R"({"type":"integer","multipleOf":0})",
                             R"({"patternProperties":{"(a+)+$":{}}})", R"({"type":"nonsense"})",
                             // crashed the daemon on an answer {"a":1}: valijson recursed until the stack overflowed
                             R"({"dependencies":{"a":{"$ref":"#"}}})",
                             // 100 bytes that check a value six arrays deep 10^8 times
                             R"({"items":{"allOf":[{"$ref":"#"},{"$ref":"#"},{"$ref":"#"},{"$ref":"#"},{"$ref":"#"}]}})",
                             // valijson read the string as 0 and divided by it (SIGFPE)
                             R"({"type":"object","properties":{"n":{"multipleOf":"0"}}})",
                             // "%zz" decodes to NUL in valijson: a cycle through the member "\u0000"
                             R"({"allOf":[{"$ref":"#/%zz"}],"\u0000":{"allOf":[{"$ref":"#/%zz"}]},"":{"allOf":[{"$ref":"#/%zz"}]}})"}) {
    INFO(schema);
    HttpReply r = roundTrip(port, post(chatBody(format(schema))));
    CHECK(r.status == 400);
    CHECK(r.body.find("response_format schema refused") != std::string::npos);
  }
  CHECK(rig.requests() == 0);
  rig.answers({"7"});
  HttpReply fine = roundTrip(port, post(chatBody(format(R"({"type":"integer","multipleOf":7})"))));
  CHECK(fine.status == 200);
  CHECK(rig.requests() == 1);
  // A relative id made valijson's parser recurse until the stack overflowed: it is dropped.
  rig.answers({"[[[]],[]]"});
  HttpReply nested = roundTrip(port, post(chatBody(format(R"({"id":"a","type":"array","items":{"$ref":"#"}})"))));
  CHECK(nested.status == 200);
  CHECK(rig.requests() == 2);
}

TEST_CASE("http: a reload changes the guardrail's config for the next request") {
  Rig rig;
  const int port = httpPort(*rig.daemon);
  REQUIRE(port > 0);
  rig.answers({"not json", kValid});
  CHECK(roundTrip(port, post(chatBody(kHttpFormat))).status == 200);
  CHECK(rig.requests() == 2);
  REQUIRE(rig.daemon->reload(rig.config("max_reasks = 0\ndeny_code = \"invalid_argument\"", "max_reasks = 1\n"), 2));
  REQUIRE(rig.upstream.reset());
  rig.answers({"not json", kValid});
  HttpReply r = roundTrip(port, post(chatBody(kHttpFormat)));
  CHECK(r.status == 400);
  CHECK(r.body.find("invalid_request_error") != std::string::npos);
  CHECK(rig.requests() == 1);  // no re-ask any more
}

TEST_CASE("http: a route's schema applies to requests without a schema of their own, json_object ones too") {
  Rig rig("max_reasks = 0\nschema = { type = \"object\", required = [\"total\"], properties = { total = { type = \"number\" } } }",
          "max_reasks = 0\n");
  const int port = httpPort(*rig.daemon);
  REQUIRE(port > 0);
  rig.answers({R"({"total": 12.5})", R"({"sum": 12.5})", "[12.5]", R"({"total": 1})", R"({"total": "x"})"});
  CHECK(roundTrip(port, post(chatBody(R"("temperature":0)"))).status == 200);
  HttpReply missing = roundTrip(port, post(chatBody(R"("temperature":0)")));
  CHECK(missing.status == 400);
  CHECK(missing.body.find("total") != std::string::npos);
  const std::string object = R"("response_format":{"type":"json_object"})";
  HttpReply array = roundTrip(port, post(chatBody(object)));
  CHECK(array.status == 400);
  CHECK(array.body.find("must be a JSON object") != std::string::npos);
  CHECK(roundTrip(port, post(chatBody(object))).status == 200);
  // A caller's own schema replaces the route's.
  HttpReply own = roundTrip(port, post(chatBody(R"("response_format":{"type":"json_schema","json_schema":{"name":"t",)"
                                                 R"("schema":{"type":"object","properties":{"total":{"type":"string"}}}}})")));
  CHECK(own.status == 200);
  CHECK(rig.requests() == 5);
}

TEST_CASE("socket: a stream held whole does not pause another stream of its connection whose client reads") {
  // Held bytes counted as unwritten output: once a stream held more than the connection's
  // watermark, every other running stream there was paused until it was released, its client
  // reading all along. (New requests do wait: a connection holding that much stops reading.)
  DaemonProcess d("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\nwrite_queue_high_water = 8192\n"
                  "[plugins]\ndirs = [\"@PLUGINS@\"]\n"
                  "[instances.mock]\ntype = \"provider.mock\"\n[instances.mock.config]\nallow_request_overrides = true\n"
                  "[instances.json]\ntype = \"guardrail.json\"\n"
                  "[routes.default]\nguardrails = [\"json\"]\nprovider = \"mock\"\nmax_held_bytes = 1048576\n");
  REQUIRE(d.waitReady());
  RawConnection raw(d.socket());
  REQUIRE(raw.send(helloFrame()));
  REQUIRE(raw.readFrame());
  // Stream 1 is held whole: 80 KB in 40 chunks over 4 s, past the 8 KB watermark after 0.4 s.
  std::string value = "{\"a\":\"" + std::string(80000, 'x') + "\"}";
  RequestSpec held;
  held.stream = true;
  held.response_schema_json = R"({"type":"object"})";
  held.extra_json = R"({"mock": {"text": )" + jsonQuoted(value) + R"(, "chunks": 40, "chunk_interval_ms": 100}})";
  // Stream 3 passes through: 20 chunks over 2 s, most of them after stream 1 crossed the watermark.
  RequestSpec plain;
  plain.stream = true;
  plain.extra_json = R"({"mock": {"text": ")" + std::string(200, 'p') + R"(", "chunks": 20, "chunk_interval_ms": 100}})";
  REQUIRE(raw.send(requestFrame(1, held) + requestFrame(3, plain)));
  std::vector<uint64_t> ended;
  while (ended.size() < 2) {
    auto f = raw.readFrame(15s);
    REQUIRE(f);
    const auto* frame = wire::GetSizePrefixedFrame(f->data());
    if (frame->body_type() == wire::Body::ResponseEnd) {
      CHECK(frame->body_as_ResponseEnd()->status() == wire::Status::OK);
      ended.push_back(frame->stream_id());
    }
  }
  // Paused by the other's held bytes, stream 3 (2 s) ended only after stream 1 (4 s).
  CHECK(ended == std::vector<uint64_t>{3, 1});
}
