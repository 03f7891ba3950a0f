// The Responses API body -> wire Request translation (through the Chat Completions mapping),
// without a daemon: every mapped field lands where the chat front puts its own, stateful
// features are refused by name, and Responses-only fields never reach a provider.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "http/response_encoder.h"
#include "http/responses_request.h"
#include "outrigger_generated.h"

using namespace outrigger;
using namespace outrigger::http;

namespace {

struct Built {
  bool ok = false;
  ChatCall call;
  RequestError error;
};

Built build(const std::string& body) {
  Built b;
  b.ok = buildResponsesCall(body, CallMetadata{}, &b.call, &b.error);
  return b;
}

std::string s(const flatbuffers::String* v) { return v ? v->str() : std::string(); }

// A Responses stream that sent "partial" (as a refusal's text: OpenAI's delta.refusal), its
// encoder ready for the end.
std::unique_ptr<ResponseEncoder> streamedPartial(const std::string& text, bool refusal = false) {
  ChatCall call;
  call.model = "default";
  auto encoder = makeResponsesEncoder(call, "req1");
  encoder->streamOpen();
  ResponseChunkInfo chunk;
  chunk.delta = text;
  chunk.refusal = refusal;
  encoder->streamChunk(chunk);
  return encoder;
}

// The JSON of the `name` event in `events` (an empty document when there is none).
rapidjson::Document eventData(const std::string& events, const std::string& name) {
  rapidjson::Document d;
  std::string head = "event: " + name + "\ndata: ";
  size_t at = events.find(head);
  if (at == std::string::npos) return d;
  std::string data = events.substr(at + head.size());
  d.Parse(data.substr(0, data.find('\n')).c_str());
  return d;
}

}  // namespace

TEST_CASE("responses: instructions, input items, tools, a forced tool, text.format and limits map onto the wire request") {
  Built b = build(R"({"model":"gpt-x","instructions":"be brief","input":[
      {"role":"user","content":[{"type":"input_text","text":"weather "},{"type":"input_text","text":"in Paris?"}]},
      {"type":"reasoning","id":"rs_1","summary":[]},
      {"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
      {"type":"function_call","call_id":"call_2","name":"get_time","arguments":"{}"},
      {"type":"function_call_output","call_id":"call_1","output":"sunny"},
      {"type":"message","role":"developer","content":"answer in French"}],
    "tools":[{"type":"function","name":"get_weather","description":"d","parameters":{"type":"object"},"strict":true}],
    "tool_choice":{"type":"function","name":"get_weather"},
    "text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"},"strict":true}},
    "max_output_tokens":64,"temperature":0.5,"top_p":0.9,"metadata":{"team":"blue"},"user":"u",
    "stream":true,"store":true,"include":["reasoning.encrypted_content"],"truncation":"auto","mock":{"chunks":2}})");
  INFO(b.error.message);
  REQUIRE(b.ok);
  const wire::Request* r = b.call.request;
  CHECK(b.call.stream);
  CHECK(b.call.include_usage);
  CHECK(s(r->model()) == "gpt-x");
  REQUIRE(r->messages()->size() == 5);
  CHECK(s(r->messages()->Get(0)->content()) == "be brief");
  CHECK(s(r->messages()->Get(1)->content()) == "weather in Paris?");
  // The two function calls are one assistant turn, as Chat Completions has them.
  const auto* calls = r->messages()->Get(2)->tool_calls();
  REQUIRE(calls->size() == 2);
  CHECK(s(calls->Get(0)->id()) == "call_1");
  CHECK(s(calls->Get(0)->arguments()) == R"({"city":"Paris"})");
  CHECK(s(calls->Get(1)->name()) == "get_time");
  CHECK(s(r->messages()->Get(3)->tool_call_id()) == "call_1");
  CHECK(s(r->messages()->Get(3)->content()) == "sunny");
  CHECK(s(r->messages()->Get(4)->content()) == "answer in French");
  const wire::Params* p = r->params();
  CHECK(s(p->tools()->Get(0)->name()) == "get_weather");
  CHECK(s(p->tools()->Get(0)->parameters_json()) == R"({"type":"object"})");
  CHECK(s(p->tool_choice()) == "get_weather");  // forced, as the chat front forces it
  CHECK(p->response_format()->type() == wire::ResponseFormatType::JsonSchema);
  CHECK(p->response_format()->strict());
  CHECK(*p->max_tokens() == 64);
  CHECK(*p->temperature() == Approx(0.5));
  CHECK(*p->top_p() == Approx(0.9));
  CHECK(s(r->metadata()->user()) == "u");
  CHECK(s(r->metadata()->tags()->Get(0)->key()) == "team");
  // Unknown fields travel on for providers and plugins; Responses-only ones do not.
  rapidjson::Document extra;
  extra.Parse(s(p->extra_json()).c_str());
  REQUIRE(extra.IsObject());
  CHECK(extra.HasMember("mock"));
  CHECK_FALSE(extra.HasMember("store"));
  CHECK_FALSE(extra.HasMember("include"));
  CHECK_FALSE(extra.HasMember("truncation"));
}

// A function's strict flag and a format's description have no wire slot; dropped, an upstream
// took a strict tool as a hint (found by the client matrix).
TEST_CASE("responses: a tool's strict flag and a format's description travel on to the provider") {
  Built b = build(R"({"model":"m","input":"x",
    "tools":[{"type":"function","name":"f","parameters":{"type":"object"},"strict":true}],
    "text":{"format":{"type":"json_schema","name":"w","description":"the weather","schema":{"type":"object"}}}})");
  INFO(b.error.message);
  REQUIRE(b.ok);
  rapidjson::Document extra;
  extra.Parse(s(b.call.request->params()->extra_json()).c_str());
  REQUIRE(extra.IsObject());
  CHECK(extra["tools"][0]["function"]["strict"].GetBool());
  CHECK(std::string(extra["response_format"]["json_schema"]["description"].GetString()) == "the weather");
}

TEST_CASE("responses: a string input is one user message, and required/none tool choices pass as they are") {
  Built b = build(R"({"model":"m","input":"hello","tool_choice":"required","tools":[{"type":"function","name":"f"}]})");
  REQUIRE(b.ok);
  REQUIRE(b.call.request->messages()->size() == 1);
  CHECK(s(b.call.request->messages()->Get(0)->role()) == "user");
  CHECK(s(b.call.request->params()->tool_choice()) == "required");
  // A function named like a mode is that function, forced.
  Built named = build(R"({"model":"m","input":"hello","tool_choice":{"type":"function","name":"required"},)"
                      R"("tools":[{"type":"function","name":"required"}]})");
  REQUIRE(named.ok);
  CHECK(s(named.call.request->params()->tool_choice()) == R"({"type":"function","function":{"name":"required"}})");
}

TEST_CASE("responses: what needs stored state, built-in tools and non-text parts are refused naming the field") {
  struct Case {
    const char* body;
    const char* param;
    const char* says;
  };
  const Case cases[] = {
      {R"({"model":"m","input":"x","previous_response_id":"resp_1"})", "previous_response_id", "keeps no responses"},
      {R"({"model":"m","input":"x","conversation":"conv_1"})", "conversation", "keeps no responses"},
      {R"({"model":"m","input":"x","background":true})", "background", "stored responses"},
      {R"({"model":"m","input":"x","tools":[{"type":"web_search"}]})", "tools[0].type", "only function tools"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"u"}]}]})",
       "input[0].content[0].type", "only text"},
      {R"({"model":"m","input":[{"type":"computer_call"}]})", "input[0].type", "not supported"},
      {R"({"model":"m","input":[]})", "input", "non-empty"},
      {R"({"model":"m"})", "input", "required"},
      {R"({"input":"x"})", "model", "required"},
      {R"({"model":"m","input":"x","text":{"format":{"type":"json_schema"}}})", "text.format.schema", "JSON Schema"},
      {R"({"model":"m","input":"x","tool_choice":{"type":"file_search"}})", "tool_choice", "must be"},
      {R"({"model":"m","input":"x","prompt":{"id":"pmpt_1","variables":{"city":"Paris"}}})", "prompt", "stored prompt"},
  };
  for (const Case& c : cases) {
    Built b = build(c.body);
    INFO(c.body);
    CHECK_FALSE(b.ok);
    CHECK(b.error.param == c.param);
    CHECK(b.error.message.find(c.says) != std::string::npos);
  }
}

TEST_CASE("responses: a stream cut mid-way reports its unfinished message as incomplete in response.failed") {
  auto encoder = streamedPartial("the first half");
  ResponseEndInfo end;
  end.code = Code::kUnavailable;
  end.message = "upstream stream cut";
  rapidjson::Document d =
      eventData(encoder->streamError(end, HttpError{502, "Bad Gateway", "api_error"}), "response.failed");
  REQUIRE(d.IsObject());
  const auto& response = d["response"];
  CHECK(std::string(response["status"].GetString()) == "failed");
  REQUIRE(response["output"].Size() == 1);
  CHECK(std::string(response["output"][0]["status"].GetString()) == "incomplete");
  CHECK(std::string(response["output"][0]["content"][0]["text"].GetString()) == "the first half");
}

TEST_CASE("responses: an answer a content filter stopped is incomplete for content_filter, its message too") {
  for (const char* reason : {"content_filter", "length", "stop", "refusal"}) {
    INFO(reason);
    bool refusal = std::string(reason) == "refusal";  // a refusal ends content_filter, and is whole
    auto encoder = streamedPartial("partial", refusal);
    ResponseEndInfo end;
    end.finish_reason = refusal ? "content_filter" : reason;
    end.refusal = refusal;
    bool stopped = std::string(reason) != "stop" && !refusal;
    rapidjson::Document d =
        eventData(encoder->streamClose(end), stopped ? "response.incomplete" : "response.completed");
    REQUIRE(d.IsObject());
    const auto& response = d["response"];
    CHECK(std::string(response["output"][0]["status"].GetString()) == (stopped ? "incomplete" : "completed"));
    if (stopped) {
      CHECK(std::string(response["incomplete_details"]["reason"].GetString()) ==
            (std::string(reason) == "length" ? "max_output_tokens" : "content_filter"));
    } else {
      CHECK(response["incomplete_details"].IsNull());
    }
  }
}

TEST_CASE("responses: the response object repeats the request's tools, tool_choice, parallel_tool_calls and metadata") {
  Built b = build(R"({"model":"m","input":"x","tool_choice":"required","parallel_tool_calls":false,)"
                  R"("metadata":{"team":"a"},"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]})");
  REQUIRE(b.ok);
  auto encoder = makeResponsesEncoder(b.call, "req1");
  ResponseEndInfo end;
  end.finish_reason = "stop";
  rapidjson::Document d;
  REQUIRE_FALSE(d.Parse(encoder->unary(end, "hi").c_str()).HasParseError());
  CHECK(std::string(d["tool_choice"].GetString()) == "required");
  CHECK_FALSE(d["parallel_tool_calls"].GetBool());
  CHECK(std::string(d["metadata"]["team"].GetString()) == "a");
  REQUIRE(d["tools"].Size() == 1);
  CHECK(std::string(d["tools"][0]["name"].GetString()) == "f");
  // Not set: the API's defaults.
  Built plain = build(R"({"model":"m","input":"x"})");
  REQUIRE(plain.ok);
  rapidjson::Document p;
  REQUIRE_FALSE(p.Parse(makeResponsesEncoder(plain.call, "req2")->unary(end, "hi").c_str()).HasParseError());
  CHECK(std::string(p["tool_choice"].GetString()) == "auto");
  CHECK(p["parallel_tool_calls"].GetBool());
  CHECK(p["tools"].Size() == 0);
  CHECK(p["metadata"].IsObject());
}

// An Anthropic upstream says a stream was a refusal only at its end, after the text went out as
// output_text: the stream ended "completed", and a parser took the refusal for the answer.
TEST_CASE("responses: a refusal known only at the stream's end makes it incomplete for content_filter") {
  auto encoder = streamedPartial("I won't do that");
  ResponseEndInfo end;
  end.finish_reason = "content_filter";
  end.refusal = true;
  std::string events = encoder->streamClose(end);
  CHECK(events.find("response.completed") == std::string::npos);
  rapidjson::Document d = eventData(events, "response.incomplete");
  REQUIRE(d.IsObject());
  CHECK(std::string(d["response"]["incomplete_details"]["reason"].GetString()) == "content_filter");
}

// A chunk that starts two tool calls, "a" and "b", with no ids (as some servers send them).
static ResponseChunkInfo twoCallsWithoutIds(ToolCallDelta (&calls)[2]) {
  calls[0].index = 0;
  calls[0].name = "a";
  calls[1].index = 1;
  calls[1].name = "b";
  ResponseChunkInfo chunk;
  chunk.tool_calls = calls;
  chunk.tool_call_count = 2;
  return chunk;
}

// Some OpenAI-compatible servers send tool calls without ids; the SDK tells calls apart by
// call_id, and two empty ones failed its stream.
TEST_CASE("responses: tool calls that came without ids get distinct call ids") {
  ChatCall call;
  call.model = "default";
  auto encoder = makeResponsesEncoder(call, "req9");
  encoder->streamOpen();
  ToolCallDelta calls[2];
  ResponseChunkInfo chunk = twoCallsWithoutIds(calls);
  encoder->streamChunk(chunk);
  ResponseEndInfo end;
  end.finish_reason = "tool_calls";
  rapidjson::Document d = eventData(encoder->streamClose(end), "response.completed");
  REQUIRE(d.IsObject());
  const auto& output = d["response"]["output"];
  REQUIRE(output.Size() == 2);
  std::string first = output[0]["call_id"].GetString(), second = output[1]["call_id"].GetString();
  CHECK_FALSE(first.empty());
  CHECK_FALSE(second.empty());
  CHECK(first != second);
}

TEST_CASE("responses: text.verbosity goes on as verbosity") {
  Built b = build(R"({"model":"m","input":"x","text":{"format":{"type":"text"},"verbosity":"low"}})");
  REQUIRE(b.ok);
  std::string extra = s(b.call.request->params()->extra_json());
  CHECK(extra.find(R"("verbosity":"low")") != std::string::npos);
}

TEST_CASE("messages: tool calls that came without ids get distinct tool_use ids, streamed and whole") {
  ChatCall call;
  call.model = "default";
  auto streamed = makeAnthropicEncoder(call, "req7");
  std::string events = streamed->streamOpen();
  ToolCallDelta calls[2];
  ResponseChunkInfo chunk = twoCallsWithoutIds(calls);
  events += streamed->streamChunk(chunk);
  size_t first = events.find(R"("type":"tool_use","id":")");
  REQUIRE(first != std::string::npos);
  size_t second = events.find(R"("type":"tool_use","id":")", first + 1);
  REQUIRE(second != std::string::npos);
  std::string id_a = events.substr(first + 24, events.find('"', first + 24) - first - 24);
  std::string id_b = events.substr(second + 24, events.find('"', second + 24) - second - 24);
  CHECK_FALSE(id_a.empty());
  CHECK(id_a != id_b);

  auto whole = makeAnthropicEncoder(call, "req8");
  std::vector<ToolCall> answer = {{"", "function", "a", "{}"}, {"", "function", "b", "{}"}};
  ResponseEndInfo end;
  end.finish_reason = "tool_calls";
  end.tool_calls = &answer;
  rapidjson::Document d;
  d.Parse(whole->unary(end, "").c_str());
  REQUIRE(d.IsObject());
  REQUIRE(d["content"].Size() == 2);
  std::string a = d["content"][0]["id"].GetString(), b = d["content"][1]["id"].GetString();
  CHECK_FALSE(a.empty());
  CHECK(a != b);
}

// The Chat encoder sent such calls with no id and no type: openai-node's stream helper threw
// ("tool call snapshot missing 'type'") and a whole answer's calls all had the id "".
TEST_CASE("chat completions: tool calls that came without ids get distinct ids and a type, streamed and whole") {
  ChatCall call;
  call.model = "default";
  auto streamed = makeOpenAiEncoder(call, "req5");
  streamed->streamOpen();
  ToolCallDelta calls[2];
  ResponseChunkInfo chunk = twoCallsWithoutIds(calls);
  std::string first_event = streamed->streamChunk(chunk);
  rapidjson::Document d;
  d.Parse(first_event.substr(6).c_str());  // after "data: "
  REQUIRE(d.IsObject());
  const auto& deltas = d["choices"][0]["delta"]["tool_calls"];
  REQUIRE(deltas.Size() == 2);
  std::string a = deltas[0]["id"].GetString(), b = deltas[1]["id"].GetString();
  CHECK_FALSE(a.empty());
  CHECK(a != b);
  CHECK(std::string(deltas[0]["type"].GetString()) == "function");
  CHECK(std::string(deltas[1]["type"].GetString()) == "function");
  // A later fragment of the same calls adds arguments only.
  rapidjson::Document later;
  later.Parse(streamed->streamChunk(chunk).substr(6).c_str());
  REQUIRE(later.IsObject());
  CHECK_FALSE(later["choices"][0]["delta"]["tool_calls"][0].HasMember("id"));

  auto whole = makeOpenAiEncoder(call, "req6");
  std::vector<ToolCall> answer = {{"", "function", "a", "{}"}, {"", "function", "b", "{}"}};
  ResponseEndInfo end;
  end.finish_reason = "tool_calls";
  end.tool_calls = &answer;
  rapidjson::Document w;
  w.Parse(whole->unary(end, "").c_str());
  REQUIRE(w.IsObject());
  const auto& made = w["choices"][0]["message"]["tool_calls"];
  REQUIRE(made.Size() == 2);
  std::string x = made[0]["id"].GetString(), y = made[1]["id"].GetString();
  CHECK_FALSE(x.empty());
  CHECK(x != y);
}

// Streamed raw, arguments a model got wrong made the Anthropic SDK raise at the block's end
// ("Unable to parse tool parameter JSON"), while the whole answer had {}.
TEST_CASE("messages: a streamed tool block's arguments are the whole answer's: one delta, {} when they are no object") {
  ChatCall call;
  call.model = "default";
  for (const auto& [args, expected] : std::vector<std::pair<std::string, std::string>>{
           {R"({"city": "Paris"})", R"({"city":"Paris"})"}, {"{city: Paris}", "{}"}, {R"({"city": "Paris"} trailing)", "{}"}}) {
    INFO(args);
    auto streamed = makeAnthropicEncoder(call, "req3");
    std::string events = streamed->streamOpen();
    ToolCallDelta parts[2];
    parts[0].index = parts[1].index = 0;
    parts[0].id = "toolu_1";
    parts[0].name = "weather";
    parts[0].arguments = std::string_view(args).substr(0, args.size() / 2);
    parts[1].arguments = std::string_view(args).substr(args.size() / 2);
    for (ToolCallDelta& p : parts) {
      ResponseChunkInfo chunk;
      chunk.tool_calls = &p;
      chunk.tool_call_count = 1;
      events += streamed->streamChunk(chunk);
    }
    ResponseEndInfo end;
    end.finish_reason = "tool_calls";
    events += streamed->streamClose(end);
    std::string joined;
    size_t deltas = 0;
    for (size_t at = events.find("\"partial_json\":"); at != std::string::npos; at = events.find("\"partial_json\":", at + 1)) {
      size_t line_start = events.rfind("data: ", at) + 6;
      rapidjson::Document d;
      d.Parse(events.substr(line_start, events.find('\n', at) - line_start).c_str());
      REQUIRE(d.IsObject());
      joined += d["delta"]["partial_json"].GetString();
      ++deltas;
    }
    CHECK(deltas == 1);
    rapidjson::Document got, want;
    got.Parse(joined.c_str());
    want.Parse(expected.c_str());
    CHECK(got == want);
  }
}
