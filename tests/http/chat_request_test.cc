// The OpenAI body -> wire Request translation, and the response shapes, without a daemon.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "http/chat_request.h"
#include "http/chat_response.h"
#include "http/error_mapping.h"
#include "http/messages_request.h"
#include "outrigger_generated.h"

using namespace outrigger;
using namespace outrigger::http;

namespace {

struct Built {
  bool ok = false;
  ChatCall call;
  RequestError error;
};

Built build(const std::string& body, const CallMetadata& meta = {}) {
  Built b;
  b.ok = buildChatCall(body, meta, &b.call, &b.error);
  return b;
}

std::string s(const flatbuffers::String* v) { return v ? v->str() : std::string(); }

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

}  // namespace

TEST_CASE("a chat body maps onto the wire request fields") {
  CallMetadata meta;
  meta.tenant = "t1";
  meta.request_id = "r-1";
  meta.session = "s";
  meta.cache_no_store = true;
  meta.timeout_ms = 1500;
  Built b = build(R"({"model":"gpt-x","messages":[{"role":"system","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"42"}],
      "temperature":0.5,"top_p":1,"max_completion_tokens":64,"seed":9,"stop":"END",
      "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}}],
      "tool_choice":{"type":"function","function":{"name":"f"}},
      "response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"},"strict":true}},
      "user":"u","metadata":{"team":"blue"},"stream":true,"stream_options":{"include_usage":true}})",
                  meta);
  REQUIRE(b.ok);
  const wire::Request* r = b.call.request;
  CHECK(b.call.stream);
  CHECK(b.call.include_usage);
  CHECK(s(r->model()) == "gpt-x");
  CHECK(r->stream());
  CHECK(r->timeout_ms() == 1500);
  REQUIRE(r->messages()->size() == 4);
  CHECK(s(r->messages()->Get(1)->content()) == "hi there");
  CHECK(s(r->messages()->Get(2)->tool_calls()->Get(0)->name()) == "f");
  CHECK(s(r->messages()->Get(3)->tool_call_id()) == "call_1");
  const wire::Params* p = r->params();
  CHECK(*p->temperature() == Approx(0.5));
  CHECK(*p->max_tokens() == 64);
  CHECK(*p->seed() == 9);
  CHECK(s(p->stop()->Get(0)) == "END");
  CHECK(s(p->tools()->Get(0)->parameters_json()) == R"({"type":"object"})");
  CHECK(s(p->tool_choice()) == "f");
  CHECK(p->response_format()->type() == wire::ResponseFormatType::JsonSchema);
  CHECK(p->response_format()->strict());
  CHECK(p->extra_json() == nullptr);
  CHECK(s(r->metadata()->tenant()) == "t1");
  CHECK(s(r->metadata()->user()) == "u");
  CHECK(s(r->metadata()->request_id()) == "r-1");
  CHECK(s(r->metadata()->tags()->Get(0)->key()) == "team");
  CHECK(r->cache()->no_store());
}

TEST_CASE("unknown top-level fields travel verbatim in extra_json") {
  Built b = build(R"({"model":"m","messages":[{"role":"user","content":"x"}],"presence_penalty":0.5,
                      "mock":{"text":"y","chunks":2}})");
  REQUIRE(b.ok);
  auto extra = parse(s(b.call.request->params()->extra_json()));
  CHECK(extra["presence_penalty"].GetDouble() == Approx(0.5));
  CHECK(std::string(extra["mock"]["text"].GetString()) == "y");
  CHECK(extra["mock"]["chunks"].GetInt() == 2);
}

// The wire's Tool and ResponseFormat have no slot for a function's `strict` or a schema's
// `description`; dropping them let an upstream ignore a strict schema (found by the client matrix).
TEST_CASE("tools and response_format with members the wire lacks also travel verbatim in extra_json") {
  Built b = build(R"({"model":"m","messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"},"strict":true}}],
      "response_format":{"type":"json_schema","json_schema":{"name":"n","description":"d","schema":{}}}})");
  REQUIRE(b.ok);
  const wire::Params* p = b.call.request->params();
  CHECK(s(p->tools()->Get(0)->name()) == "f");
  auto extra = parse(s(p->extra_json()));
  CHECK(extra["tools"][0]["function"]["strict"].GetBool());
  CHECK(std::string(extra["response_format"]["json_schema"]["description"].GetString()) == "d");

  Built plain = build(R"({"model":"m","messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{}}}]})");
  REQUIRE(plain.ok);
  CHECK(plain.call.request->params()->extra_json() == nullptr);
}

TEST_CASE("the route header picks the route by name, and the request keeps the caller's model") {
  CallMetadata meta;
  meta.route = "cheap";
  Built b = build(R"({"model":"gpt-x","messages":[{"role":"user","content":"x"}]})", meta);
  REQUIRE(b.ok);
  CHECK(b.call.route == "cheap");
  CHECK(s(b.call.request->model()) == "gpt-x");
  CHECK(b.call.model == "gpt-x");
}

TEST_CASE("bad bodies are refused with the offending parameter") {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"m"})", "messages"},
      {R"({"model":"m","messages":"hi"})", "messages"},
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m","messages":[{"role":7,"content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content[0]"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1})", "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":1}})",
       "stream_options.include_usage"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":{}})", "tools"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})", "n"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"metadata":{"k":1}})", "metadata"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    Built b = build(c.body);
    CHECK_FALSE(b.ok);
    CHECK(b.error.param == c.param);
    CHECK_FALSE(b.error.message.empty());
  }
}

TEST_CASE("malformed, deeply nested and non-UTF-8 bodies are refused without harm") {
  CHECK_FALSE(build("").ok);
  CHECK_FALSE(build("{\"model\":").ok);
  CHECK_FALSE(build("[1,2,3]").ok);
  CHECK_FALSE(build(std::string(200000, '[')).ok);
  CHECK_FALSE(build("{\"model\":\"m\xff\",\"messages\":[]}").ok);
  Built b = build("{\"model\": \"m\", \"messages\": [ }");
  CHECK(b.error.message.find("not valid JSON") != std::string::npos);
}

// Found by tests/fuzz/http_body_fuzz: RapidJSON rounded 0.51e309 to infinity, and writing the
// extras back stopped at it, so extra_json reached the chain as truncated JSON.
TEST_CASE("a number too big for a double is refused like 1e309, never written back truncated") {
  for (const char* number : {"1e309", "0.51e309", "-99e307"}) {
    INFO(number);
    Built b = build(std::string(R"({"model":"m","messages":[{"role":"user","content":"x"}],"vendor":{"x":[)") +
                    number + "]}}");
    CHECK_FALSE(b.ok);
    CHECK(b.error.message.find("not valid JSON") != std::string::npos);
  }
  Built ok = build(R"({"model":"m","messages":[{"role":"user","content":"x"}],"vendor":{"x":[1.7e308]}})");
  REQUIRE(ok.ok);
  CHECK(s(ok.call.request->params()->extra_json()) == R"({"vendor":{"x":[1.7e308]}})");
}

TEST_CASE("a unary completion has OpenAI's shape") {
  CompletionIdentity id{"chatcmpl-1", 1700000000, "m"};
  std::vector<ToolCall> calls = {{"call_1", "function", "f", "{\"a\":1}"}};
  ResponseEndInfo end;
  end.finish_reason = "tool_calls";
  end.tool_calls = &calls;
  end.usage.prompt_tokens = 3;
  end.usage.completion_tokens = 2;
  auto d = parse(completionBody(id, end));
  CHECK(std::string(d["object"].GetString()) == "chat.completion");
  const auto& msg = d["choices"][0]["message"];
  CHECK(msg["content"].IsNull());
  CHECK(std::string(msg["tool_calls"][0]["function"]["arguments"].GetString()) == "{\"a\":1}");
  CHECK(std::string(d["choices"][0]["finish_reason"].GetString()) == "tool_calls");
  CHECK(d["usage"]["total_tokens"].GetInt() == 5);
}

TEST_CASE("stream events are data lines with chunk objects") {
  CompletionIdentity id{"chatcmpl-1", 1700000000, "m"};
  ToolCallDelta tc;
  tc.index = 0;
  tc.id = "call_1";
  tc.name = "f";
  tc.arguments = "{\"a\"";
  ChunkDelta delta;
  delta.tool_calls = &tc;
  delta.tool_call_count = 1;
  std::string ev = chunkEvent(id, delta, true);
  REQUIRE(ev.rfind("data: ", 0) == 0);
  REQUIRE(ev.substr(ev.size() - 2) == "\n\n");
  auto d = parse(ev.substr(6, ev.size() - 8));
  CHECK(std::string(d["object"].GetString()) == "chat.completion.chunk");
  CHECK(d["usage"].IsNull());
  CHECK(d["choices"][0]["finish_reason"].IsNull());
  const auto& t = d["choices"][0]["delta"]["tool_calls"][0];
  CHECK(std::string(t["id"].GetString()) == "call_1");
  CHECK(std::string(t["type"].GetString()) == "function");
  CHECK(std::string(t["function"]["arguments"].GetString()) == "{\"a\"");
  Usage u;
  u.prompt_tokens = 1;
  std::string usage = usageEvent(id, u);
  auto ud = parse(usage.substr(6, usage.size() - 8));
  CHECK(ud["choices"].Empty());
  CHECK(ud["usage"]["prompt_tokens"].GetInt() == 1);
}

TEST_CASE("errors carry all four keys, null when unknown") {
  auto d = parse(errorBody("bad", "invalid_request_error", "", ""));
  CHECK(d["error"]["param"].IsNull());
  CHECK(d["error"]["code"].IsNull());
  std::string ev = errorEvent("cut", "service_unavailable_error", "unavailable");
  auto e = parse(ev.substr(6, ev.size() - 8));
  CHECK(std::string(e["error"]["code"].GetString()) == "unavailable");
}

TEST_CASE("status codes map to the statuses the SDKs key their exceptions on") {
  CHECK(httpErrorFor(Code::kInvalidArgument).status == 400);
  CHECK(httpErrorFor(Code::kUnauthenticated).status == 401);
  CHECK(httpErrorFor(Code::kPermissionDenied).status == 403);
  CHECK(httpErrorFor(Code::kNotFound).status == 404);
  CHECK(httpErrorFor(Code::kResourceExhausted).status == 429);
  CHECK(httpErrorFor(Code::kInternal).status == 500);
  CHECK(httpErrorFor(Code::kUnavailable).status == 503);
  CHECK(httpErrorFor(Code::kDeadlineExceeded).status == 504);
  auto end = [](Code code, bool retryable, bool spent = false, uint32_t retry_after_ms = 0) {
    ResponseEndInfo e;
    e.code = code;
    e.retryable = retryable;
    e.retries_spent = spent;
    e.retry_after_ms = retry_after_ms;
    return e;
  };
  CHECK(shouldRetryHeader(end(Code::kUnavailable, true)) == "true");
  CHECK(shouldRetryHeader(end(Code::kUnavailable, false)) == "false");
  CHECK(shouldRetryHeader(end(Code::kPermissionDenied, false)) == "false");
  // The sidecar retried already, or every breaker is open: the SDK's retries would multiply.
  CHECK(shouldRetryHeader(end(Code::kUnavailable, true, /*spent=*/true, 30000)) == "false");
  // Rate limited with a real time to come back: worth it after that time, whatever was spent.
  CHECK(shouldRetryHeader(end(Code::kResourceExhausted, true, /*spent=*/true, 1200)) == "true");
  CHECK(shouldRetryHeader(end(Code::kResourceExhausted, true, /*spent=*/true, 0)) == "false");
  CHECK(retryAfterSeconds(0) == 1);
  CHECK(retryAfterSeconds(2500) == 3);
}

TEST_CASE("messages request: a forced tool, any and none keep their meaning on the wire, and disable_parallel_tool_use travels") {
  auto choiceOf = [](const std::string& tool_choice, std::string* extra = nullptr) {
    std::string body = R"({"model":"claude-x","max_tokens":16,"messages":[{"role":"user","content":"hi"}],)"
                       R"("tools":[{"name":"lookup","input_schema":{"type":"object"}}],"tool_choice":)" +
                       tool_choice + "}";
    ChatCall call;
    RequestError error;
    REQUIRE(buildMessagesCall(body, {}, &call, &error));
    const wire::Params* p = call.request->params();
    if (extra) *extra = s(p->extra_json());
    return s(p->tool_choice());
  };
  std::string extra;
  CHECK(choiceOf(R"({"type":"tool","name":"lookup","disable_parallel_tool_use":true})", &extra) == "lookup");
  CHECK(parse(extra)["parallel_tool_calls"].IsFalse());
  CHECK(choiceOf(R"({"type":"any"})", &extra) == "required");
  CHECK(extra.empty());
  CHECK(choiceOf(R"({"type":"none"})") == "none");
  CHECK(choiceOf(R"({"type":"auto"})") == "auto");
  // A tool named like a mode travels in the object form, so it is not read as the mode.
  CHECK(choiceOf(R"({"type":"tool","name":"none"})") == R"({"type":"function","function":{"name":"none"}})");
  CHECK(choiceOf(R"({"type":"tool","name":"auto"})") == R"({"type":"function","function":{"name":"auto"}})");
}

TEST_CASE("chat request: a forced function named like a mode travels in the object form, other names bare") {
  auto choiceOf = [](const std::string& name) {
    Built b = build(R"({"model":"m","messages":[{"role":"user","content":"hi"}],)"
                    R"("tools":[{"type":"function","function":{"name":")" + name + R"(","parameters":{"type":"object"}}}],)"
                    R"("tool_choice":{"type":"function","function":{"name":")" + name + R"("}}})",
                    {});
    REQUIRE(b.ok);
    return s(b.call.request->params()->tool_choice());
  };
  CHECK(choiceOf("lookup") == "lookup");
  CHECK(choiceOf("none") == R"({"type":"function","function":{"name":"none"}})");
  CHECK(choiceOf("required") == R"({"type":"function","function":{"name":"required"}})");
  CHECK(choiceOf("{x") == R"({"type":"function","function":{"name":"{x"}})");
}

// A server tool runs at Anthropic with settings of its own; as a function with an empty schema it
// was another tool. A tool_choice Anthropic refuses fell back to auto.
TEST_CASE("messages request: server tools and a tool_choice Anthropic refuses get a 400 naming the field") {
  struct Case {
    const char* extra;
    const char* param;
  };
  const Case cases[] = {
      {R"("tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}])", "tools[0].type"},
      {R"("tools":[{"type":"bash_20250124","name":"bash"}])", "tools[0].type"},
      {R"("tools":[{"name":"lookup","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool"})", "tool_choice.name"},
      {R"("tools":[{"name":"lookup","input_schema":{"type":"object"}}],"tool_choice":{"type":"sometimes"})", "tool_choice.type"},
  };
  for (const Case& c : cases) {
    INFO(c.extra);
    ChatCall call;
    RequestError error;
    std::string body = std::string(R"({"model":"claude-x","max_tokens":16,"messages":[{"role":"user","content":"hi"}],)") +
                       c.extra + "}";
    CHECK_FALSE(buildMessagesCall(body, {}, &call, &error));
    CHECK(error.param == c.param);
  }
  ChatCall call;
  RequestError error;
  CHECK(buildMessagesCall(R"({"model":"claude-x","max_tokens":16,"messages":[{"role":"user","content":"hi"}],)"
                          R"("tools":[{"type":"custom","name":"lookup","input_schema":{"type":"object"}}]})",
                          {}, &call, &error));
}

TEST_CASE("messages request: an empty stop sequence is kept, where it once put a null offset in the vector") {
  ChatCall call;
  RequestError error;
  REQUIRE(buildMessagesCall(R"({"model":"m","max_tokens":8,"messages":[{"role":"user","content":"q"}],)"
                            R"("stop_sequences":["", "END"]})",
                            {}, &call, &error));
  const auto* stop = call.request->params()->stop();
  REQUIRE(stop);
  REQUIRE(stop->size() == 2);
  CHECK(stop->Get(0)->str().empty());
  CHECK(stop->Get(1)->str() == "END");
}

TEST_CASE("messages request: temperature and top_p outside 0..1 are refused naming the field") {
  for (const char* field : {R"("temperature":1e300)", R"("top_p":-0.5)", R"("temperature":1.5)"}) {
    INFO(field);
    ChatCall call;
    RequestError error;
    CHECK_FALSE(buildMessagesCall(std::string(R"({"model":"m","max_tokens":8,"messages":[{"role":"user","content":"q"}],)") +
                                      field + "}",
                                  {}, &call, &error));
    CHECK(error.message.find("must be between 0 and 1") != std::string::npos);
  }
  ChatCall call;
  RequestError error;
  REQUIRE(buildMessagesCall(R"({"model":"m","max_tokens":8,"messages":[{"role":"user","content":"q"}],"temperature":0.7})", {},
                            &call, &error));
  CHECK(*call.request->params()->temperature() == Approx(0.7));
}

TEST_CASE("chat request: the SDK's read timeout is the deadline of a unary call only, and an explicit timeout wins") {
  auto deadlineOf = [](bool stream, uint32_t timeout_ms, uint32_t read_timeout_ms) {
    CallMetadata meta;
    meta.timeout_ms = timeout_ms;
    meta.read_timeout_ms = read_timeout_ms;
    Built b = build(std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":)") +
                        (stream ? "true" : "false") + "}",
                    meta);
    REQUIRE(b.ok);
    return b.call.request->timeout_ms();
  };
  CHECK(deadlineOf(false, 0, 7000) == 7000);
  // A stream's read timeout bounds its gaps, not its length: it runs up to the server's max_timeout_ms.
  CHECK(deadlineOf(true, 0, 7000) == UINT32_MAX);
  CHECK(deadlineOf(false, 1500, 7000) == 1500);
  CHECK(deadlineOf(true, 1500, 7000) == 1500);
}
