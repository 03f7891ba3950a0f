// provider.anthropic translation against wire fixtures (tests/providers/fixtures/anthropic).
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "anthropic_wire.h"
#include "sse_parser.h"

using namespace outrigger::providers;
namespace wire = outrigger::providers::anthropic;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(OUTRIGGER_SOURCE_DIR) + "/tests/providers/fixtures/anthropic/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

outrigger_str s(std::string_view v) { return {v.data(), v.size()}; }

// The Messages API body built for `req`, parsed.
rapidjson::Document requestJson(const outrigger_request_view& req) {
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildMessagesRequest(req, {}, &body, &refused));
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

}  // namespace

TEST_CASE("anthropic unary: text, stop reason and usage with cache tokens counted into the prompt") {
  wire::Answer a;
  wire::Failure f;
  REQUIRE(wire::parseMessagesResponse(fixture("messages_unary.json"), &a, &f));
  CHECK(a.content == "Hello! How can I help you today?");
  CHECK(a.finish_reason == "stop");
  CHECK(a.model == "claude-sonnet-4-20250514");
  CHECK(a.usage.prompt_tokens == 12 + 100 + 2000);
  CHECK(a.usage.cached_tokens == 2000);
  CHECK(a.usage.completion_tokens == 9);
}

TEST_CASE("anthropic unary: tool_use blocks become tool calls with JSON arguments") {
  wire::Answer a;
  wire::Failure f;
  REQUIRE(wire::parseMessagesResponse(fixture("messages_tool_use.json"), &a, &f));
  CHECK(a.finish_reason == "tool_calls");
  REQUIRE(a.tool_calls.size() == 1);
  CHECK(a.tool_calls[0].id == "toolu_01A09q90qw90lq917835lq9");
  CHECK(a.tool_calls[0].name == "get_weather");
  rapidjson::Document args;
  args.Parse(a.tool_calls[0].arguments.c_str());
  REQUIRE_FALSE(args.HasParseError());
  CHECK(std::string(args["location"].GetString()) == "San Francisco, CA");
  CHECK_FALSE(wire::parseMessagesResponse("{\"id\":", &a, &f));
}

TEST_CASE("anthropic stream: text and input_json deltas, cumulative usage, message_stop ends it") {
  SseParser p;
  std::vector<SseEvent> events;
  REQUIRE(p.feed(fixture("messages_stream_tools.sse"), events));
  wire::StreamDecoder dec;
  std::string text;
  std::map<uint32_t, ToolCall> calls;
  for (const auto& e : events) {
    wire::StreamDelta d;
    wire::Failure f;
    REQUIRE(dec.decode(e, &d, &f) != wire::StreamDecoder::Step::kError);
    text += d.content;
    for (const auto& t : d.tool_calls) {
      calls[t.index].id += t.id;
      calls[t.index].name += t.name;
      calls[t.index].arguments += t.arguments;
    }
  }
  CHECK(dec.done());
  CHECK(text == "Okay, let's check the weather.");
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  CHECK(calls[0].name == "get_weather");
  CHECK(calls[0].arguments == "{\"location\": \"San Francisco, CA\"}");
  CHECK(dec.summary().finish_reason == "tool_calls");
  CHECK(dec.summary().usage.completion_tokens == 89);  // message_delta's cumulative count, not 2 + 89
  CHECK(dec.summary().usage.prompt_tokens == 472 + 128);
  CHECK(dec.summary().usage.cached_tokens == 128);
}

TEST_CASE("anthropic stream: a null count in message_delta keeps what message_start said") {
  const std::vector<SseEvent> events = {
      {"message_start", R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",)"
                        R"("model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":1000,)"
                        R"("cache_creation_input_tokens":0,"cache_read_input_tokens":5000,"output_tokens":1}}})", ""},
      {"content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})", ""},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})", ""},
      {"content_block_stop", R"({"type":"content_block_stop","index":0})", ""},
      {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":null,)"
                        R"("cache_creation_input_tokens":null,"cache_read_input_tokens":null,"output_tokens":40}})", ""},
      {"message_stop", R"({"type":"message_stop"})", ""},
  };
  wire::StreamDecoder dec;
  for (const auto& e : events) {
    wire::StreamDelta d;
    wire::Failure f;
    REQUIRE(dec.decode(e, &d, &f) != wire::StreamDecoder::Step::kError);
  }
  CHECK(dec.done());
  CHECK(dec.summary().usage.prompt_tokens == 6000);
  CHECK(dec.summary().usage.cached_tokens == 5000);
  CHECK(dec.summary().usage.completion_tokens == 40);
}

TEST_CASE("anthropic stream: an error event is a failure, overloaded is retryable") {
  wire::StreamDecoder dec;
  wire::StreamDelta d;
  wire::Failure f;
  SseEvent e{"error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", ""};
  CHECK(dec.decode(e, &d, &f) == wire::StreamDecoder::Step::kError);
  CHECK(f.retryable);
  CHECK_FALSE(dec.done());
}

TEST_CASE("anthropic errors: 529 overloaded retries, spend limit and billing do not") {
  wire::ErrorHints none{};
  auto over = wire::mapHttpError(529, fixture("error_overloaded.json"), {"3", "", ""}, 0);
  CHECK(over.code == OUTRIGGER_CODE_UNAVAILABLE);
  CHECK(over.retryable);
  CHECK(over.retry_after_ms == 3000);
  CHECK(over.message.find("overloaded_error") != std::string::npos);
  auto spend = wire::mapHttpError(429, fixture("error_spend_limit.json"), none, 0);
  CHECK(spend.code == OUTRIGGER_CODE_RESOURCE_EXHAUSTED);
  CHECK_FALSE(spend.retryable);
  auto billing = wire::mapHttpError(402, R"({"type":"error","error":{"type":"billing_error","message":"x"}})", none, 0);
  CHECK(billing.code == OUTRIGGER_CODE_RESOURCE_EXHAUSTED);
  CHECK_FALSE(billing.retryable);
  CHECK(wire::mapHttpError(429, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow"}})", none, 0).retryable);
  CHECK(wire::mapHttpError(401, "{}", none, 0).code == OUTRIGGER_CODE_UNAUTHENTICATED);
}

TEST_CASE("anthropic request: top-level system, required max_tokens, tool_use and tool_result blocks") {
  outrigger_tool_call_view call{s("toolu_1"), s("function"), s("lookup"), s("{\"q\":1}")};
  outrigger_message_view msgs[5] = {};
  msgs[0].role = s("system");
  msgs[0].content = s("be brief");
  msgs[1].role = s("user");
  msgs[1].content = s("find q");
  msgs[2].role = s("assistant");
  msgs[2].content = s("looking");
  msgs[2].tool_calls = &call;
  msgs[2].tool_call_count = 1;
  msgs[3].role = s("tool");
  msgs[3].content = s("42");
  msgs[3].tool_call_id = s("toolu_1");
  msgs[4].role = s("user");
  msgs[4].content = s("thanks");
  outrigger_tool_view tool{s("function"), s("lookup"), s("finds"), s(R"({"type":"object"})")};
  outrigger_str stops[] = {s("END")};
  outrigger_params_view params{};
  params.stop = stops;
  params.stop_count = 1;
  params.tools = &tool;
  params.tool_count = 1;
  params.tool_choice = s("required");
  params.extra_json = s(R"({"thinking":{"type":"enabled","budget_tokens":1024},"max_tokens":1})");
  outrigger_request_view req{};
  req.model = s("claude-x");
  req.messages = msgs;
  req.message_count = 5;
  req.params = &params;
  req.stream = 1;
  rapidjson::Document d = requestJson(req);
  CHECK(std::string(d["system"].GetString()) == "be brief");
  CHECK(d["max_tokens"].GetUint() == 4096);
  CHECK(d["stream"].GetBool());
  REQUIRE(d["messages"].Size() == 3);  // user, assistant, user (tool result + text merged)
  CHECK(std::string(d["messages"][1]["content"][1]["type"].GetString()) == "tool_use");
  CHECK(d["messages"][1]["content"][1]["input"]["q"].GetInt() == 1);
  CHECK(std::string(d["messages"][2]["content"][0]["type"].GetString()) == "tool_result");
  CHECK(std::string(d["messages"][2]["content"][0]["tool_use_id"].GetString()) == "toolu_1");
  CHECK(std::string(d["messages"][2]["content"][1]["text"].GetString()) == "thanks");
  CHECK(std::string(d["tools"][0]["input_schema"]["type"].GetString()) == "object");
  CHECK(std::string(d["tool_choice"]["type"].GetString()) == "any");
  CHECK(std::string(d["stop_sequences"][0].GetString()) == "END");
  CHECK(d["thinking"]["budget_tokens"].GetInt() == 1024);
  CHECK(wire::finishReason("max_tokens") == "length");
  CHECK(wire::finishReason("model_context_window_exceeded") == "length");  // cut by the window, not finished
  CHECK(wire::finishReason("refusal") == "content_filter");
}

// An OpenAI SDK pointed at a Claude model: settings at the value that asks for nothing are left
// out (the Messages API refuses fields it does not know), any other value still goes.
TEST_CASE("anthropic request: OpenAI-only settings at their do-nothing values are left out") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("hi");
  outrigger_params_view params{};
  params.extra_json = s(R"({"n":1,"store":false,"logprobs":false,"presence_penalty":0,"frequency_penalty":0.0,)"
                        R"("logit_bias":{},"seed":null,"stream_options":{"include_usage":true},"top_k":5,)"
                        R"("reasoning_effort":"low","frequency_penalty_x":1,"modalities":["text"],"verbosity":"medium"})");
  outrigger_request_view req{};
  req.model = s("claude-x");
  req.messages = &msg;
  req.message_count = 1;
  req.params = &params;
  auto body = requestJson(req);
  for (const char* gone : {"n", "store", "logprobs", "presence_penalty", "frequency_penalty", "logit_bias", "seed",
                           "stream_options", "modalities", "verbosity"}) {
    INFO(gone);
    CHECK_FALSE(body.HasMember(gone));
  }
  CHECK(body["top_k"].GetInt() == 5);                                       // Anthropic's own
  CHECK(std::string(body["reasoning_effort"].GetString()) == "low");        // asks for something: Anthropic says no
  CHECK(body["frequency_penalty_x"].GetInt() == 1);
  params.extra_json = s(R"({"n":2,"presence_penalty":0.5,"modalities":["text","audio"]})");
  auto asked = requestJson(req);
  CHECK(asked["n"].GetInt() == 2);
  CHECK(asked["modalities"].Size() == 2);
  CHECK(asked["presence_penalty"].GetDouble() == 0.5);
}

// A forced tool travels as its name; Anthropic wants {"type":"tool","name":...}. OpenAI's
// parallel_tool_calls: false becomes disable_parallel_tool_use and is not sent under its own
// name, which the API refuses.
TEST_CASE("anthropic request: a forced tool stays forced, and parallel_tool_calls false disables parallel tool use") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("hi");
  outrigger_tool_view tool{s("function"), s("lookup"), s("finds"), s(R"({"type":"object"})")};
  auto bodyFor = [&](const char* choice, const char* extra) {
    outrigger_params_view params{};
    params.tools = &tool;
    params.tool_count = 1;
    params.tool_choice = s(choice);
    params.extra_json = s(extra);
    outrigger_request_view req{};
    req.model = s("claude-x");
    req.messages = &msg;
    req.message_count = 1;
    req.params = &params;
    return requestJson(req);
  };
  auto forced = bodyFor("lookup", "");
  CHECK(std::string(forced["tool_choice"]["type"].GetString()) == "tool");
  CHECK(std::string(forced["tool_choice"]["name"].GetString()) == "lookup");
  CHECK_FALSE(forced["tool_choice"].HasMember("disable_parallel_tool_use"));
  CHECK(std::string(bodyFor("auto", "")["tool_choice"]["type"].GetString()) == "auto");
  CHECK(std::string(bodyFor("none", "")["tool_choice"]["type"].GetString()) == "none");

  auto serial = bodyFor("required", R"({"parallel_tool_calls":false,"metadata":{"user_id":"u1"}})");
  CHECK(std::string(serial["tool_choice"]["type"].GetString()) == "any");
  CHECK(serial["tool_choice"]["disable_parallel_tool_use"].GetBool());
  CHECK_FALSE(serial.HasMember("parallel_tool_calls"));
  CHECK(std::string(serial["metadata"]["user_id"].GetString()) == "u1");
  // Without a tool_choice, the serial request still reaches Anthropic as an auto choice.
  auto serial_auto = bodyFor("", R"({"parallel_tool_calls":false})");
  CHECK(std::string(serial_auto["tool_choice"]["type"].GetString()) == "auto");
  CHECK(serial_auto["tool_choice"]["disable_parallel_tool_use"].GetBool());
  // "none" takes no disable_parallel_tool_use: only auto, any and tool do.
  auto serial_none = bodyFor("none", R"({"parallel_tool_calls":false})");
  CHECK(std::string(serial_none["tool_choice"]["type"].GetString()) == "none");
  CHECK_FALSE(serial_none["tool_choice"].HasMember("disable_parallel_tool_use"));
}

TEST_CASE("anthropic request: an assistant turn with neither text nor calls is left out, not sent as empty content") {
  outrigger_message_view msgs[3] = {};
  msgs[0].role = s("user");
  msgs[0].content = s("hi");
  msgs[1].role = s("assistant");  // OpenAI clients send "content": ""
  msgs[2].role = s("user");
  msgs[2].content = s("again");
  outrigger_params_view params{};
  outrigger_request_view req{};
  req.model = s("claude-x");
  req.messages = msgs;
  req.message_count = 3;
  req.params = &params;
  rapidjson::Document d = requestJson(req);
  REQUIRE(d["messages"].Size() == 1);  // the two user turns merge
  CHECK(std::string(d["messages"][0]["role"].GetString()) == "user");
  CHECK(d["messages"][0]["content"].Size() == 2);
}

// The wire's floats widened to double sent 0.30000001192092896 for a caller's 0.3 (found by the
// client matrix).
TEST_CASE("anthropic request: temperature and top_p go upstream as the decimals the caller sent") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("hi");
  outrigger_params_view params{};
  params.present = OUTRIGGER_PARAM_TEMPERATURE | OUTRIGGER_PARAM_TOP_P;
  params.temperature = 0.3f;
  params.top_p = 0.7f;
  outrigger_request_view req{};
  req.model = s("claude-sonnet-4-5");
  req.messages = &msg;
  req.message_count = 1;
  req.params = &params;
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildMessagesRequest(req, {}, &body, &refused));
  CHECK(body.find(R"("temperature":0.3,)") != std::string::npos);
  CHECK(body.find(R"("top_p":0.7)") != std::string::npos);
}

// metadata.user_id became the request's user and was never sent back upstream (found by the
// client matrix).
TEST_CASE("anthropic request: the end user goes upstream as metadata.user_id unless the caller sent metadata") {
  outrigger_message_view msg{};
  msg.role = s("user");
  msg.content = s("hi");
  outrigger_metadata_view meta{};
  meta.user = s("u-1");
  outrigger_request_view req{};
  req.model = s("claude-sonnet-4-5");
  req.messages = &msg;
  req.message_count = 1;
  req.metadata = &meta;
  std::string body;
  wire::Failure refused;
  REQUIRE(wire::buildMessagesRequest(req, {}, &body, &refused));
  CHECK(body.find(R"("metadata":{"user_id":"u-1"})") != std::string::npos);
  outrigger_params_view params{};
  params.extra_json = s(R"({"metadata":{"user_id":"own"}})");
  req.params = &params;
  REQUIRE(wire::buildMessagesRequest(req, {}, &body, &refused));
  CHECK(body.find(R"("metadata":{"user_id":"own"})") != std::string::npos);
  CHECK(body.find("u-1") == std::string::npos);
}

// Found by tests/fuzz/response_fuzz (corpus/response/regression_*).
TEST_CASE("anthropic usage: counts that add up past 2^32 saturate and keep the cache counts within the prompt") {
  wire::Answer a;
  wire::Failure f;
  REQUIRE(wire::parseMessagesResponse(
      R"({"content":[],"usage":{"input_tokens":4294967295,"cache_creation_input_tokens":4294967295,
          "cache_read_input_tokens":7,"output_tokens":5}})",
      &a, &f));
  CHECK(a.usage.prompt_tokens == 4294967295u);
  CHECK(a.usage.cached_tokens == 7);
  CHECK(a.cache_write_tokens == 4294967295u - 7);
}

TEST_CASE("anthropic stream: every tool_use block starts a call of its own, even when a block index repeats") {
  wire::StreamDecoder dec;
  std::vector<uint32_t> started;
  for (int block : {0, 1, 0, 5}) {
    SseEvent e{"content_block_start",
               R"({"type":"content_block_start","index":)" + std::to_string(block) +
                   R"(,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}})",
               ""};
    wire::StreamDelta d;
    wire::Failure f;
    REQUIRE(dec.decode(e, &d, &f) == wire::StreamDecoder::Step::kDelta);
    started.push_back(d.tool_calls.at(0).index);
  }
  CHECK(started == std::vector<uint32_t>{0, 1, 2, 3});
}

TEST_CASE("anthropic errors: the upstream's message is cut between UTF-8 code points") {
  std::string body = R"({"type":"error","error":{"type":"invalid_request_error","message":")" +
                     std::string(299, 'x') + "\xc3\xa9 and more\"}}";
  wire::Failure f = wire::mapHttpError(400, body, {}, 0);
  CHECK(f.message.substr(f.message.size() - 3) == "xxx");
  wire::StreamDecoder dec;
  wire::StreamDelta d;
  CHECK(dec.decode(SseEvent{"error", body, ""}, &d, &f) == wire::StreamDecoder::Step::kError);
  CHECK(f.message.substr(f.message.size() - 3) == "xxx");
}

TEST_CASE("anthropic answers: text that is not UTF-8 is a malformed answer") {
  const std::string bad = "caf\xe9";  // Latin-1, not UTF-8
  wire::Answer a;
  wire::Failure f;
  CHECK_FALSE(wire::parseMessagesResponse(
      R"({"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":")" + bad +
          R"("}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}})",
      &a, &f));
  CHECK(f.message.find("not valid UTF-8") != std::string::npos);
  wire::StreamDecoder dec;
  wire::StreamDelta d;
  CHECK(dec.decode(SseEvent{"content_block_delta",
                            R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")" + bad +
                                R"("}})",
                            ""},
                   &d, &f) == wire::StreamDecoder::Step::kError);
  CHECK(f.message.find("not valid UTF-8") != std::string::npos);
}

// Anthropic streams a tool called without input as one empty partial_json: the call's arguments
// were "", which is not JSON; the unary answer's `input: {}` reads "{}".
TEST_CASE("anthropic stream: a tool called without input has arguments {}, one with input keeps its own") {
  wire::StreamDecoder dec;
  std::map<uint32_t, std::string> arguments;
  const char* events[][2] = {
      {"content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t0","name":"now","input":{}}})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}})"},
      {"content_block_stop", R"({"type":"content_block_stop","index":0})"},
      {"content_block_start", R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}})"},
      {"content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}})"},
      {"content_block_stop", R"({"type":"content_block_stop","index":1})"},
  };
  for (const auto& [name, data] : events) {
    wire::StreamDelta d;
    wire::Failure f;
    REQUIRE(dec.decode(SseEvent{name, data, ""}, &d, &f) != wire::StreamDecoder::Step::kError);
    for (const auto& t : d.tool_calls) arguments[t.index] += t.arguments;
  }
  CHECK(arguments[0] == "{}");
  CHECK(arguments[1] == "{\"a\":1}");
}
