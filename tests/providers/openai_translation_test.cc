// provider.openai translation against recorded wire fixtures (tests/providers/fixtures/openai):
// SSE parsing at every split point, streamed tool calls, usage details, refusals, error mapping.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "openai_wire.h"
#include "secret_ref.h"
#include "sse_parser.h"

using namespace outrigger::providers;
namespace wire = outrigger::providers::openai;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(OUTRIGGER_SOURCE_DIR) + "/tests/providers/fixtures/openai/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

outrigger_str s(std::string_view v) { return {v.data(), v.size()}; }

// Everything a stream told: text, tool calls by index, and the decoder's summary.
struct Decoded {
  std::string content;
  std::map<uint32_t, wire::ToolCall> calls;
  wire::Answer summary;
  bool done = false;
  int errors = 0;
};

Decoded decodeAll(const std::vector<SseEvent>& events) {
  Decoded out;
  wire::StreamDecoder dec;
  for (const auto& e : events) {
    wire::StreamDelta d;
    wire::Failure f;
    auto step = dec.decode(e.data, &d, &f);
    if (step == wire::StreamDecoder::Step::kError) ++out.errors;
    out.content += d.content;
    for (const auto& t : d.tool_calls) {
      auto& c = out.calls[t.index];
      c.id += t.id;
      c.type += t.type;
      c.name += t.name;
      c.arguments += t.arguments;
    }
  }
  out.summary = dec.summary();
  out.done = dec.done();
  return out;
}

}  // namespace

TEST_CASE("sse parser: the same events whatever the split points of the byte stream") {
  std::string bytes = fixture("chat_stream_tools.sse");
  REQUIRE_FALSE(bytes.empty());
  std::vector<SseEvent> whole;
  SseParser p;
  REQUIRE(p.feed(bytes, whole));
  REQUIRE(whole.size() == 9);
  CHECK(whole.back().data == "[DONE]");
  CHECK_FALSE(p.midEvent());
  for (size_t split = 1; split < bytes.size(); split += 7) {
    SseParser q;
    std::vector<SseEvent> got;
    REQUIRE(q.feed(std::string_view(bytes).substr(0, split), got));
    REQUIRE(q.feed(std::string_view(bytes).substr(split), got));
    REQUIRE(got.size() == whole.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].data == whole[i].data);
  }
  // One byte at a time, including the CRLF of the first event split between pieces.
  SseParser r;
  std::vector<SseEvent> bytewise;
  for (char c : bytes) REQUIRE(r.feed(std::string_view(&c, 1), bytewise));
  CHECK(bytewise.size() == whole.size());
}

TEST_CASE("sse parser: event names, multi-line data, comments, CR line ends and a cut event") {
  SseParser p;
  std::vector<SseEvent> ev;
  REQUIRE(p.feed("event: message_start\ndata: {\"a\":\ndata: 1}\n\n: ping\r\rdata: x\r\rdata: half", ev));
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].event == "message_start");
  CHECK(ev[0].data == "{\"a\":\n1}");
  CHECK(ev[1].data == "x");
  CHECK(p.midEvent());
  SseParser small(16);
  std::vector<SseEvent> none;
  CHECK_FALSE(small.feed("data: " + std::string(64, 'x'), none));
}

// WHATWG's event stream: one leading U+FEFF is dropped. Kept, it became part of the first field's
// name ("\uFEFFdata"), and the first event (the answer's first words) was lost without an error.
TEST_CASE("sse parser: a leading byte order mark is dropped, in one piece or split, and only there") {
  const std::string bom = "\xEF\xBB\xBF";
  const std::string stream = bom + "data: Hi\n\ndata: there\n\n";
  for (size_t split = 0; split <= 4; ++split) {
    SseParser p;
    std::vector<SseEvent> ev;
    REQUIRE(p.feed(std::string_view(stream).substr(0, split), ev));
    REQUIRE(p.feed(std::string_view(stream).substr(split), ev));
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].data == "Hi");
    CHECK(ev[1].data == "there");
  }
  SseParser later;  // a mark anywhere else is text
  std::vector<SseEvent> ev;
  REQUIRE(later.feed("data: a\n\ndata: " + bom + "b\n\n", ev));
  REQUIRE(ev.size() == 2);
  CHECK(ev[1].data == bom + "b");
  SseParser partial;  // two bytes of a mark, then something else: those bytes stay
  std::vector<SseEvent> kept;
  REQUIRE(partial.feed("\xEF\xBB", kept));
  REQUIRE(partial.feed("data: x\n\n", kept));
  CHECK(kept.empty());  // the line began with those two bytes: a field of another name, no data
}

TEST_CASE("openai stream: streamed tool calls, text, finish reason and usage details") {
  std::vector<SseEvent> events;
  SseParser p;
  REQUIRE(p.feed(fixture("chat_stream_tools.sse"), events));
  Decoded d = decodeAll(events);
  CHECK(d.errors == 0);
  CHECK(d.done);
  CHECK(d.content == "Let me check.");
  REQUIRE(d.calls.size() == 2);
  CHECK(d.calls[0].id == "call_DdmO9pD3xa9XTPNJ32zg2hcA");
  CHECK(d.calls[0].name == "get_weather");
  CHECK(d.calls[0].arguments == "{\"location\": \"Paris\"}");
  CHECK(d.calls[1].name == "get_time");
  CHECK(d.summary.finish_reason == "tool_calls");
  CHECK(d.summary.model == "gpt-4o-mini");
  REQUIRE(d.summary.has_usage);
  CHECK(d.summary.usage.prompt_tokens == 85);
  CHECK(d.summary.usage.completion_tokens == 30);
  CHECK(d.summary.usage.cached_tokens == 64);
  CHECK(d.summary.usage.reasoning_tokens == 5);
}

TEST_CASE("openai stream: an error event or malformed JSON mid-stream is an error") {
  wire::StreamDecoder dec;
  wire::StreamDelta d;
  wire::Failure f;
  CHECK(dec.decode(R"({"error":{"message":"overloaded","type":"server_error"}})", &d, &f) ==
        wire::StreamDecoder::Step::kError);
  CHECK(f.code == OUTRIGGER_CODE_UNAVAILABLE);
  CHECK(f.message.find("overloaded") != std::string::npos);
  CHECK(dec.decode("{\"choices\": [", &d, &f) == wire::StreamDecoder::Step::kError);
  CHECK_FALSE(dec.done());
}

TEST_CASE("openai unary: content, usage with cached and reasoning tokens") {
  wire::Answer a;
  wire::Failure f;
  REQUIRE(wire::parseChatResponse(fixture("chat_unary.json"), &a, &f));
  CHECK(a.content == "Hello! How can I assist you today?");
  CHECK(a.finish_reason == "stop");
  CHECK(a.model == "gpt-4o-2024-08-06");
  CHECK(a.usage.prompt_tokens == 19);
  CHECK(a.usage.completion_tokens == 10);
  CHECK(a.usage.cached_tokens == 3);
  CHECK(a.usage.reasoning_tokens == 2);
}

// Gemini's OpenAI-compatible endpoint counts thinking outside completion_tokens: 21 + 0 + 60 = 81.
TEST_CASE("openai usage: reasoning counted outside completion_tokens is added to it, inside it is not") {
  auto usageOf = [](const std::string& usage) {
    wire::Answer a;
    wire::Failure f;
    std::string body = R"({"id":"x","object":"chat.completion","model":"gemini-2.5-flash","choices":[{"index":0,)"
                       R"("message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":)" + usage + "}";
    REQUIRE(wire::parseChatResponse(body, &a, &f));
    return a.usage;
  };
  auto gemini = usageOf(R"({"prompt_tokens":21,"completion_tokens":0,"total_tokens":81,"completion_tokens_details":{"reasoning_tokens":60}})");
  CHECK(gemini.completion_tokens == 60);
  CHECK(gemini.reasoning_tokens == 60);
  auto gemini_text = usageOf(R"({"prompt_tokens":21,"completion_tokens":5,"total_tokens":86,"completion_tokens_details":{"reasoning_tokens":60}})");
  CHECK(gemini_text.completion_tokens == 65);
  auto openai = usageOf(R"({"prompt_tokens":21,"completion_tokens":65,"total_tokens":86,"completion_tokens_details":{"reasoning_tokens":60}})");
  CHECK(openai.completion_tokens == 65);
  auto no_total = usageOf(R"({"prompt_tokens":21,"completion_tokens":5,"completion_tokens_details":{"reasoning_tokens":60}})");
  CHECK(no_total.completion_tokens == 65);
}

TEST_CASE("openai unary: tool calls, refusal, empty choices and malformed JSON") {
  wire::Answer a;
  wire::Failure f;
  REQUIRE(wire::parseChatResponse(fixture("chat_tool_calls.json"), &a, &f));
  REQUIRE(a.tool_calls.size() == 1);
  CHECK(a.tool_calls[0].name == "get_current_weather");
  CHECK(a.tool_calls[0].arguments == "{\n\"location\": \"Boston, MA\"\n}");
  CHECK(a.finish_reason == "tool_calls");

  wire::Answer r;
  REQUIRE(wire::parseChatResponse(fixture("chat_refusal.json"), &r, &f));
  CHECK(r.refusal);
  CHECK(r.content == "I'm sorry, I can't assist with that request.");
  CHECK(r.finish_reason == "content_filter");

  wire::Answer e;
  CHECK_FALSE(wire::parseChatResponse(R"({"id":"x","choices":[]})", &e, &f));
  CHECK(f.code == OUTRIGGER_CODE_UNAVAILABLE);
  CHECK(f.retryable);
  CHECK_FALSE(wire::parseChatResponse("{\"id\": ", &e, &f));
}

TEST_CASE("openai errors: statuses, retryability, quota and retry hints") {
  wire::ErrorHints none{};
  auto rate = wire::mapHttpError(429, fixture("error_rate_limit.json"), {"2", "", ""}, 0);
  CHECK(rate.code == OUTRIGGER_CODE_RESOURCE_EXHAUSTED);
  CHECK(rate.retryable);
  CHECK(rate.retry_after_ms == 2000);
  auto quota = wire::mapHttpError(429, fixture("error_quota.json"), none, 0);
  CHECK(quota.code == OUTRIGGER_CODE_RESOURCE_EXHAUSTED);
  CHECK_FALSE(quota.retryable);
  auto key = wire::mapHttpError(401, fixture("error_bad_key.json"), none, 0);
  CHECK(key.code == OUTRIGGER_CODE_UNAUTHENTICATED);
  CHECK_FALSE(key.retryable);
  CHECK(key.message.find("sk-") == std::string::npos);
  CHECK(wire::mapHttpError(400, "{}", none, 0).code == OUTRIGGER_CODE_INVALID_ARGUMENT);
  CHECK(wire::mapHttpError(500, "", none, 0).retryable);
  CHECK(wire::mapHttpError(503, "", {"", "1500", ""}, 0).retry_after_ms == 1500);
  CHECK(wire::mapHttpError(529, "", none, 0).code == OUTRIGGER_CODE_UNAVAILABLE);
  CHECK_FALSE(wire::mapHttpError(503, "", {"", "", "false"}, 0).retryable);
  CHECK(wire::mapHttpError(409, "", {"", "", ""}, 0).retryable);
}

TEST_CASE("openai errors: retry-after as milliseconds, seconds and an HTTP date") {
  CHECK(wire::retryAfterMs("", "250.5", 0) == 250);
  CHECK(wire::retryAfterMs("3", "", 0) == 3000);
  CHECK(wire::retryAfterMs("0.5", "", 0) == 500);
  // Wed, 21 Oct 2015 07:28:00 GMT is 1445412480.
  CHECK(wire::retryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", "", 1445412470) == 10000);
  CHECK(wire::retryAfterMs("soon", "", 0) == 0);
  CHECK(wire::retryAfterMs("-4", "", 0) == 0);
  CHECK(wire::retryAfterMs("99999999", "", 0) == 3600 * 1000);
  // Decimal only: strtod read "0x10" as 16 seconds.
  CHECK(wire::retryAfterMs("0x10", "", 0) == 0);
  CHECK(wire::retryAfterMs("", "0x10", 0) == 0);
  CHECK(wire::retryAfterMs("1e3", "", 0) == 1000 * 1000);
}

TEST_CASE("openai transport failures: timeouts retry, the deadline does not") {
  CHECK(wire::mapTransportError(OUTRIGGER_HTTP_E_FIRST_BYTE_TIMEOUT, "x").retryable);
  CHECK(wire::mapTransportError(OUTRIGGER_HTTP_E_TRANSPORT, "reset").code == OUTRIGGER_CODE_UNAVAILABLE);
  auto d = wire::mapTransportError(OUTRIGGER_HTTP_E_DEADLINE, "x");
  CHECK(d.code == OUTRIGGER_CODE_DEADLINE_EXCEEDED);
  CHECK_FALSE(d.retryable);
}

TEST_CASE("openai request: messages, tools, response_format, stream options and extra fields") {
  outrigger_tool_call_view call{s("call_1"), s("function"), s("lookup"), s("{\"q\":1}")};
  outrigger_message_view msgs[3] = {};
  msgs[0].role = s("system");
  msgs[0].content = s("be brief");
  msgs[1].role = s("assistant");
  msgs[1].tool_calls = &call;
  msgs[1].tool_call_count = 1;
  msgs[2].role = s("tool");
  msgs[2].content = s("42");
  msgs[2].tool_call_id = s("call_1");
  outrigger_tool_view tool{s("function"), s("lookup"), s("finds"), s(R"({"type":"object"})")};
  outrigger_str stops[] = {s("END")};
  outrigger_params_view params{};
  params.present = OUTRIGGER_PARAM_TEMPERATURE | OUTRIGGER_PARAM_MAX_TOKENS;
  params.temperature = 0.5f;
  params.max_tokens = 64;
  params.stop = stops;
  params.stop_count = 1;
  params.tools = &tool;
  params.tool_count = 1;
  params.tool_choice = s("auto");
  params.response_format = OUTRIGGER_FORMAT_JSON_SCHEMA;
  params.response_schema_name = s("answer");
  params.response_schema_json = s(R"({"type":"object","properties":{"n":{"type":"integer"}}})");
  params.response_schema_strict = 1;
  params.extra_json = s(R"({"user":"u-1","model":"ignored","logit_bias":{"50256":-100}})");
  outrigger_request_view req{};
  req.model = s("gpt-4o-mini");
  req.messages = msgs;
  req.message_count = 3;
  req.params = &params;
  req.stream = 1;

  wire::WireSettings ws;
  ws.max_tokens_field = "max_completion_tokens";
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildChatRequest(req, ws, &body, &refused));
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["model"].GetString()) == "gpt-4o-mini");
  CHECK(d["stream"].GetBool());
  CHECK(d["stream_options"]["include_usage"].GetBool());
  CHECK(d["messages"].Size() == 3);
  CHECK(d["messages"][1]["content"].IsNull());
  CHECK(std::string(d["messages"][1]["tool_calls"][0]["function"]["name"].GetString()) == "lookup");
  CHECK(std::string(d["messages"][2]["tool_call_id"].GetString()) == "call_1");
  CHECK(d["max_completion_tokens"].GetUint() == 64);
  CHECK_FALSE(d.HasMember("max_tokens"));
  CHECK(std::string(d["tools"][0]["function"]["parameters"]["type"].GetString()) == "object");
  CHECK(std::string(d["tool_choice"].GetString()) == "auto");
  CHECK(std::string(d["response_format"]["type"].GetString()) == "json_schema");
  CHECK(d["response_format"]["json_schema"]["strict"].GetBool());
  CHECK(std::string(d["stop"][0].GetString()) == "END");
  CHECK(std::string(d["user"].GetString()) == "u-1");  // unknown fields pass through
  CHECK(d["logit_bias"].IsObject());
}

// Found by tests/fuzz/extras_fuzz: request JSON holding a number RapidJSON rounds to infinity was
// embedded half-written, so the upstream got a truncated body.
TEST_CASE("openai request: request JSON with a number too big for a double never truncates the body") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("x");
  outrigger_tool_view tool{s("function"), s("f"), {}, s("0.51e309")};
  outrigger_params_view params{};
  params.tools = &tool;
  params.tool_count = 1;
  params.extra_json = s(R"({"vendor":[99e307],"kept":1})");
  outrigger_request_view req{};
  req.model = s("m");
  req.messages = &msg;
  req.message_count = 1;
  req.params = &params;
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildChatRequest(req, {}, &body, &refused));
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["tools"][0]["function"]["parameters"].GetString()) == "0.51e309");  // not JSON: as text
  CHECK_FALSE(d.HasMember("vendor"));  // extras that do not parse are not passed on
}

TEST_CASE("secrets: by environment or file reference, errors without values") {
  ::setenv("OUTRIGGER_TEST_SECRET", "sk-from-env", 1);
  std::string v, e;
  REQUIRE(resolveSecret("${OUTRIGGER_TEST_SECRET}", &v, &e));
  CHECK(v == "sk-from-env");
  CHECK_FALSE(resolveSecret("${OUTRIGGER_TEST_UNSET_VAR}", &v, &e));
  CHECK(e.find("OUTRIGGER_TEST_UNSET_VAR") != std::string::npos);
  REQUIRE(resolveSecret("sk-expanded-by-host", &v, &e));  // the loader already expanded ${...}
  CHECK(v == "sk-expanded-by-host");
  CHECK_FALSE(resolveSecret("file:/nonexistent/key", &v, &e));
  CHECK(e.find("/nonexistent/key") != std::string::npos);
  std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/outrigger_secret_test";
  std::ofstream(path) << "sk-from-file\n";
  REQUIRE(resolveSecret("file:" + path, &v, &e));
  CHECK(v == "sk-from-file");
  CHECK(redact("key sk-from-file here", "sk-from-file") == "key [redacted] here");
  // A key kept with its line end (`echo key | base64` into a Kubernetes secret) would be a header
  // value with a line break, refused on every request.
  ::setenv("OUTRIGGER_TEST_SECRET", "sk-from-env\n", 1);
  REQUIRE(resolveSecret("${OUTRIGGER_TEST_SECRET}", &v, &e));
  CHECK(v == "sk-from-env");
  REQUIRE(resolveSecret("sk-expanded-by-host\r\n", &v, &e));
  CHECK(v == "sk-expanded-by-host");
  ::setenv("OUTRIGGER_TEST_SECRET", "\n", 1);
  CHECK_FALSE(resolveSecret("${OUTRIGGER_TEST_SECRET}", &v, &e));
}

TEST_CASE("openai embeddings request: texts, base64, dimensions, user and extra fields") {
  outrigger_str inputs[] = {s("first text"), s("second")};
  outrigger_metadata_view md{};
  md.user = s("u-9");
  outrigger_embed_request_view req{};
  req.hdr = OUTRIGGER_HEADER_INIT(outrigger_embed_request_view);
  req.model = s("text-embedding-3-small");
  req.inputs = inputs;
  req.input_count = 2;
  req.dimensions = 4;
  req.metadata = &md;
  req.extra_json = s(R"({"input":"ignored","encoding_format":"float","vendor":{"k":1}})");
  rapidjson::Document d;
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildEmbeddingsRequest(req, {}, &body, &refused));
  d.Parse(body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["model"].GetString()) == "text-embedding-3-small");
  REQUIRE(d["input"].Size() == 2);
  CHECK(std::string(d["input"][0].GetString()) == "first text");
  CHECK(std::string(d["encoding_format"].GetString()) == "base64");
  CHECK(d["dimensions"].GetUint() == 4);
  CHECK(std::string(d["user"].GetString()) == "u-9");
  CHECK(d["vendor"]["k"].GetInt() == 1);
  wire::WireSettings forced;
  forced.model = "pinned";
  req.dimensions = 0;
  req.metadata = nullptr;
  REQUIRE(wire::buildEmbeddingsRequest(req, forced, &body, &refused));
  d.Parse(body.c_str());
  CHECK(std::string(d["model"].GetString()) == "pinned");
  CHECK_FALSE(d.HasMember("dimensions"));
  CHECK_FALSE(d.HasMember("user"));
}

TEST_CASE("openai embeddings answer: base64 and float fixtures decode to the same vectors, by index") {
  const std::vector<float> v0 = {0.25f, -0.5f, 1.0f, 0.125f};
  const std::vector<float> v1 = {-1.0f, 0.0f, 0.75f, 2.0f};
  for (const char* name : {"embeddings_base64.json", "embeddings_float.json"}) {
    INFO(name);
    wire::Embeddings e;
    wire::Failure f;
    REQUIRE(wire::parseEmbeddingsResponse(fixture(name), 2, &e, &f));
    REQUIRE(e.vectors.size() == 2);
    CHECK(e.vectors[0] == v0);
    CHECK(e.vectors[1] == v1);
    CHECK(e.model == "text-embedding-3-small");
    CHECK(e.prompt_tokens == 5);
  }
  wire::Embeddings e;
  wire::Failure f;
  CHECK_FALSE(wire::parseEmbeddingsResponse(fixture("embeddings_float.json"), 3, &e, &f));
  CHECK(f.code == OUTRIGGER_CODE_UNAVAILABLE);
  CHECK_FALSE(wire::parseEmbeddingsResponse(R"({"data":[{"index":0,"embedding":"AAA"}]})", 1, &e, &f));
  CHECK_FALSE(wire::parseEmbeddingsResponse(R"({"data":[{"index":0,"embedding":["x"]}]})", 1, &e, &f));
  CHECK_FALSE(wire::parseEmbeddingsResponse("not json", 1, &e, &f));
  std::vector<float> out;
  REQUIRE(wire::decodeBase64Floats("AACAPwAAAMAAAAA/", &out));
  CHECK(out == std::vector<float>{1.0f, -2.0f, 0.5f});
  CHECK_FALSE(wire::decodeBase64Floats("AACAPw*=", &out));
}

// A forced tool travels as its name (schemas/outrigger.fbs Params.tool_choice); the real API
// wants an object for it and refuses a bare name.
TEST_CASE("openai request: a forced tool goes out as a function object, the keywords as strings") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("hi");
  outrigger_tool_view tool{s("function"), s("lookup"), s("finds"), s(R"({"type":"object"})")};
  auto toolChoiceOf = [&](const char* choice) {
    outrigger_params_view params{};
    params.tools = &tool;
    params.tool_count = 1;
    params.tool_choice = s(choice);
    outrigger_request_view req{};
    req.model = s("gpt-4o-mini");
    req.messages = &msg;
    req.message_count = 1;
    req.params = &params;
    std::string body;
    wire::Failure refused;
    REQUIRE(wire::buildChatRequest(req, wire::WireSettings{}, &body, &refused));
    rapidjson::Document d;
    d.Parse(body.c_str());
    REQUIRE_FALSE(d.HasParseError());
    rapidjson::Document out;
    out.CopyFrom(d["tool_choice"], out.GetAllocator());
    return out;
  };
  auto forced = toolChoiceOf("lookup");
  REQUIRE(forced.IsObject());
  CHECK(std::string(forced["type"].GetString()) == "function");
  CHECK(std::string(forced["function"]["name"].GetString()) == "lookup");
  for (const char* keyword : {"auto", "none", "required"}) {
    auto k = toolChoiceOf(keyword);
    REQUIRE(k.IsString());
    CHECK(std::string(k.GetString()) == keyword);
  }
  auto object = toolChoiceOf(R"({"type":"function","function":{"name":"lookup"}})");
  CHECK(std::string(object["function"]["name"].GetString()) == "lookup");
}

// The wire carries temperature and top_p as floats; widened to double, 0.3f went upstream as
// 0.30000001192092896, not the 0.3 the caller sent (found by the client matrix).
TEST_CASE("openai request: temperature and top_p go upstream as the decimals the caller sent") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("hi");
  outrigger_params_view params{};
  params.present = OUTRIGGER_PARAM_TEMPERATURE | OUTRIGGER_PARAM_TOP_P;
  params.temperature = 0.3f;
  params.top_p = 0.95f;
  outrigger_request_view req{};
  req.model = s("gpt-4o-mini");
  req.messages = &msg;
  req.message_count = 1;
  req.params = &params;
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildChatRequest(req, {}, &body, &refused));
  CHECK(body.find(R"("temperature":0.3,)") != std::string::npos);
  CHECK(body.find(R"("top_p":0.95)") != std::string::npos);
  params.temperature = 1.0f;
  params.top_p = 1e-5f;
  REQUIRE(wire::buildChatRequest(req, {}, &body, &refused));
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(d["temperature"].GetDouble() == 1.0);
  CHECK(d["top_p"].GetDouble() == 1e-5);
}

// What the HTTP front keeps of the caller's tools and response_format in extra_json (members the
// wire has no slot for) is written into the matching tool and schema, and nowhere else.
TEST_CASE("openai request: a caller's tool strict flag and schema description reach the upstream") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("hi");
  outrigger_tool_view tools[] = {{s("function"), s("get_weather"), s("weather"), s(R"({"type":"object"})")},
                                 {s("function"), s("get_time"), {}, {}}};
  outrigger_params_view params{};
  params.tools = tools;
  params.tool_count = 2;
  params.response_format = OUTRIGGER_FORMAT_JSON_SCHEMA;
  params.response_schema_name = s("answer");
  params.response_schema_json = s(R"({"type":"object"})");
  params.response_schema_strict = 1;
  params.extra_json = s(R"({"tools":[{"type":"function","function":{"name":"get_weather","strict":true}}],)"
                        R"("response_format":{"type":"json_schema","json_schema":{"name":"answer","description":"d"}},)"
                        R"("presence_penalty":0.5})");
  outrigger_request_view req{};
  req.model = s("gpt-4o-mini");
  req.messages = &msg;
  req.message_count = 1;
  req.params = &params;
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildChatRequest(req, {}, &body, &refused));
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d["tools"].Size() == 2);
  CHECK(d["tools"][0]["function"]["strict"].GetBool());
  CHECK(std::string(d["tools"][0]["function"]["description"].GetString()) == "weather");
  CHECK_FALSE(d["tools"][1]["function"].HasMember("strict"));
  CHECK(std::string(d["response_format"]["json_schema"]["description"].GetString()) == "d");
  CHECK(d["response_format"]["json_schema"]["strict"].GetBool());
  CHECK(d["presence_penalty"].GetDouble() == 0.5);
  CHECK(body.find(R"("tools")") == body.rfind(R"("tools")"));  // written once
  CHECK(body.find(R"("response_format")") == body.rfind(R"("response_format")"));
}

// The caller's `user` became request metadata and was never sent on chat requests, though
// embeddings sent it (found by the client matrix).
TEST_CASE("openai request: the end user goes upstream as user, once") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("hi");
  outrigger_metadata_view meta{};
  meta.user = s("u-1");
  outrigger_params_view params{};
  params.extra_json = s(R"({"user":"from-extra"})");
  outrigger_request_view req{};
  req.model = s("gpt-4o-mini");
  req.messages = &msg;
  req.message_count = 1;
  req.params = &params;
  req.metadata = &meta;
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildChatRequest(req, {}, &body, &refused));
  CHECK(body.find(R"("user":"u-1")") != std::string::npos);
  CHECK(body.find("from-extra") == std::string::npos);
  meta.user = {};
  REQUIRE(wire::buildChatRequest(req, {}, &body, &refused));
  CHECK(body.find(R"("user":"from-extra")") != std::string::npos);
}

// Found by tests/fuzz/response_fuzz (corpus/response/regression_*).
TEST_CASE("openai stream: tool call indices are renumbered densely, so an upstream's index never sizes the host's list") {
  wire::StreamDecoder dec;
  std::vector<uint32_t> indices;
  for (const char* data :
       {R"({"choices":[{"delta":{"tool_calls":[{"index":4000000000,"id":"call_a","function":{"name":"f"}}]}}]})",
        R"({"choices":[{"delta":{"tool_calls":[{"index":7,"id":"call_b"},{"index":4000000000,"function":{"arguments":"{}"}}]}}]})",
        R"({"choices":[{"delta":{"tool_calls":[{"index":7,"function":{"arguments":"[]"}}]}}]})"}) {
    wire::StreamDelta d;
    wire::Failure f;
    REQUIRE(dec.decode(data, &d, &f) == wire::StreamDecoder::Step::kDelta);
    for (const auto& t : d.tool_calls) indices.push_back(t.index);
  }
  CHECK(indices == std::vector<uint32_t>{0, 1, 0, 1});
}

TEST_CASE("openai stream: calls sent whole at one index are told apart by their ids, and repeated ids and names are not appended") {
  // As some OpenAI-compatible servers stream parallel calls: each whole, all at index 0.
  Decoded parallel = decodeAll(
      {{"", R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}]})"},
       {"", R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"CET\"}"}}]}}]})"}});
  REQUIRE(parallel.calls.size() == 2);
  CHECK(parallel.calls[0].id == "call_1");
  CHECK(parallel.calls[0].name == "get_weather");
  CHECK(parallel.calls[0].arguments == R"({"city":"Paris"})");
  CHECK(parallel.calls[1].id == "call_2");
  CHECK(parallel.calls[1].name == "get_time");
  CHECK(parallel.calls[1].arguments == R"({"tz":"CET"})");
  // A server that repeats the call's id, type and name in every fragment.
  Decoded repeated = decodeAll(
      {{"", R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]})"},
       {"", R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"f","arguments":":1}"}}]}}]})"}});
  REQUIRE(repeated.calls.size() == 1);
  CHECK(repeated.calls[0].id == "call_9");
  CHECK(repeated.calls[0].type == "function");
  CHECK(repeated.calls[0].name == "f");
  CHECK(repeated.calls[0].arguments == R"({"a":1})");
}

TEST_CASE("openai embeddings answer: a value that is not a finite float is refused") {
  wire::Embeddings e;
  wire::Failure f;
  CHECK_FALSE(wire::parseEmbeddingsResponse(R"({"data":[{"index":0,"embedding":[0.5,1e39]}]})", 1, &e, &f));
  CHECK(f.code == OUTRIGGER_CODE_UNAVAILABLE);
  CHECK(f.message.find("finite") != std::string::npos);
  CHECK_FALSE(wire::parseEmbeddingsResponse(R"({"data":[{"index":0,"embedding":"AADAfw=="}]})", 1, &e, &f));  // NaN
  CHECK(f.message.find("finite") != std::string::npos);
  CHECK(wire::parseEmbeddingsResponse(R"({"data":[{"index":0,"embedding":[0.5,3.4e38]}]})", 1, &e, &f));
}

TEST_CASE("openai errors: the upstream's message is cut between UTF-8 code points") {
  std::string message = std::string(299, 'x') + "\xc3\xa9" + " and more";  // byte 300 is inside the é
  std::string body = R"({"error":{"type":"invalid_request_error","message":")" + message + R"("}})";
  wire::Failure f = wire::mapHttpError(400, body, {}, 0);
  CHECK(f.message.size() > 299);
  CHECK(f.message.substr(f.message.size() - 3) == "xxx");
  wire::StreamDecoder dec;
  wire::StreamDelta d;
  CHECK(dec.decode(body, &d, &f) == wire::StreamDecoder::Step::kError);
  CHECK(f.message.substr(f.message.size() - 3) == "xxx");
  CHECK(upstreamQuote(std::string(298, 'x') + "\xc3\xa9") == std::string(298, 'x') + "\xc3\xa9");
}

TEST_CASE("openai answers: text that is not UTF-8 is a malformed answer, and an error body's bytes are repaired") {
  const std::string bad = "caf\xe9";  // Latin-1, not UTF-8
  wire::Answer a;
  wire::Failure f;
  CHECK_FALSE(wire::parseChatResponse(
      R"({"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":")" + bad +
          R"("},"finish_reason":"stop"}]})",
      &a, &f));
  CHECK(f.message.find("not valid UTF-8") != std::string::npos);
  wire::StreamDecoder dec;
  wire::StreamDelta d;
  CHECK(dec.decode(R"({"choices":[{"index":0,"delta":{"content":")" + bad + R"("}}]})", &d, &f) ==
        wire::StreamDecoder::Step::kError);
  CHECK(f.message.find("not valid UTF-8") != std::string::npos);
  // An error page in another encoding: quoted with U+FFFD in place of what is not UTF-8.
  f = wire::mapHttpError(400, R"({"error":{"type":"invalid_request_error","message":")" + bad + "\"}}", {}, 0);
  CHECK(f.message == "upstream 400");  // the body does not parse: the status alone
  CHECK(upstreamQuote(bad) == "caf\xef\xbf\xbd");
  CHECK(upstreamQuote(std::string(299, 'x') + "\xe9\xe9") == std::string(299, 'x') + "\xef\xbf\xbd");
}

TEST_CASE("openai unary: what checking an answer's UTF-8 costs", "[.][bench]") {
  // Answers decoded as the provider does (the parse checks UTF-8), against RapidJSON's parse
  // without the check, in alternating passes of the same run: the recorded answer, and one with
  // 4 KiB of text in several scripts.
  std::string words;
  while (words.size() < 4096) words += "The caf\u00e9 na \u0159ece, \u6771\u4eac\u306e\u5929\u6c17 \u0438 \u043c\u043e\u0440\u0435 \U0001F30D. ";
  std::string long_text;
  {
    rapidjson::Document d;
    REQUIRE_FALSE(d.Parse(fixture("chat_unary.json").c_str()).HasParseError());
    d["choices"][0]["message"]["content"].SetString(words.c_str(), static_cast<rapidjson::SizeType>(words.size()),
                                                     d.GetAllocator());
    rapidjson::StringBuffer out;
    rapidjson::Writer<rapidjson::StringBuffer> w(out);
    d.Accept(w);
    long_text = out.GetString();
  }
  for (const std::string& body : {fixture("chat_unary.json"), long_text}) {
    const int kAnswers = body.size() > 2000 ? 20000 : 200000;
    auto timePass = [&](bool checked) {
      auto t0 = std::chrono::steady_clock::now();
      size_t parsed = 0;
      for (int i = 0; i < kAnswers; ++i) {
        rapidjson::Document d;
        parsed += checked ? bool(outrigger::providers::parseUpstream(body, &d)) : bool(outrigger::json::parse(body, &d));
      }
      REQUIRE(parsed == size_t(kAnswers));
      return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / kAnswers;
    };
    std::vector<double> plain, checked;
    for (int pass = 0; pass < 5; ++pass) {
      plain.push_back(timePass(false));
      checked.push_back(timePass(true));
    }
    std::sort(plain.begin(), plain.end());
    std::sort(checked.begin(), checked.end());
    std::printf("bench: parsing a %zu-byte chat answer: %.0f ns unchecked, %.0f ns with its UTF-8 checked (median of "
                "5 alternating passes of %d; +%.0f ns, %.2fx)\n",
                body.size(), plain[2], checked[2], kAnswers, checked[2] - plain[2], checked[2] / plain[2]);
  }
}
