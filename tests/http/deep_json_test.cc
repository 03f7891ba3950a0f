// JSON nested past json::kMaxDepth (128) in any field of an HTTP body: the translators refuse it,
// and the real daemon answers a typed 400 in each dialect's shape and keeps serving. 100,000
// levels overflowed the stack in RapidJSON's recursive writer and copy before the bound.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "http/chat_request.h"
#include "http/messages_request.h"
#include "outrigger_generated.h"
#include "support/daemon_process.h"
#include "support/raw_http.h"

using namespace outrigger;
using namespace outrigger::http;
using namespace outrigger::testing;

namespace {

constexpr size_t kHostile = 100000;

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string chatBody(const std::string& fields, const std::string& messages = R"([{"role":"user","content":"x"}])") {
  return R"({"model":"default","messages":)" + messages + fields + "}";
}
std::string chatWithUnknownField(const std::string& v) { return chatBody(R"(,"vendor":)" + v); }
std::string chatWithToolParameters(const std::string& v) {
  return chatBody(R"(,"tools":[{"type":"function","function":{"name":"f","parameters":)" + v + "}}]");
}
std::string chatWithResponseSchema(const std::string& v) {
  return chatBody(R"(,"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":)" + v + "}}");
}
// OpenAI's form: the arguments are JSON text inside a string, so only the chain's check sees them.
std::string chatWithToolCallArguments(const std::string& v) {
  return chatBody("", R"([{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
                      R"("function":{"name":"f","arguments":")" + v + R"("}}]},)"
                      R"({"role":"tool","tool_call_id":"c1","content":"42"},{"role":"user","content":"x"}])");
}

std::string messagesBody(const std::string& fields,
                         const std::string& messages = R"([{"role":"user","content":"x"}])") {
  return R"({"model":"default","max_tokens":16,"messages":)" + messages + fields + "}";
}
std::string messagesWithUnknownField(const std::string& v) { return messagesBody(R"(,"vendor":)" + v); }
std::string messagesWithInputSchema(const std::string& v) {
  return messagesBody(R"(,"tools":[{"name":"f","input_schema":)" + v + "}]");
}
std::string messagesWithToolUseInput(const std::string& v) {
  return messagesBody("", R"([{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":)" + v +
                              R"(}]},{"role":"user","content":"x"}])");
}

std::string embeddingsWithUnknownField(const std::string& v) {
  return R"({"model":"default","input":"x","vendor":)" + v + "}";
}

bool namesTheLimit(const std::string& text) { return text.find("nested deeper than 128 levels") != std::string::npos; }

// The daemon (echo mock) with an HTTP front that takes bodies of a few hundred kilobytes.
struct HttpRig {
  DaemonProcess daemon{basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                                   "[http]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 1048576\n")};
  int port = 0;
  HttpRig() {
    REQUIRE(daemon.waitReady());
    port = httpPort(daemon);
    REQUIRE(port != 0);
  }
  HttpReply send(const std::string& body, const std::string& path) { return roundTrip(port, post(body, path)); }
  void expectServing() {
    HttpReply chat = send(chatBody(""), "/v1/chat/completions");
    CHECK(chat.status == 200);
    CHECK(send(messagesBody(""), "/v1/messages").status == 200);
    CHECK(send(R"({"model":"default","input":"hello"})", "/v1/embeddings").status == 200);
    CHECK(daemon.alive());
  }
};

struct Case {
  const char* what;
  std::string body;
};

}  // namespace

TEST_CASE("deep json: every field of a chat body past 128 levels is refused naming the limit") {
  std::string deep = nested(kHostile);
  for (const auto& [what, body] : std::vector<Case>{{"unknown field", chatWithUnknownField(deep)},
                                                    {"tool parameters", chatWithToolParameters(deep)},
                                                    {"response schema", chatWithResponseSchema(deep)},
                                                    {"just past the limit", chatWithUnknownField(nested(128))}}) {
    INFO(what);
    ChatCall call;
    RequestError error;
    CHECK_FALSE(buildChatCall(body, {}, &call, &error));
    CHECK(namesTheLimit(error.message));
  }
  ChatCall call;
  RequestError error;
  REQUIRE(buildChatCall(chatWithUnknownField(nested(127)), {}, &call, &error));  // the body's own object is level 1
}

TEST_CASE("deep json: Messages and embeddings bodies past 128 levels are refused naming the limit") {
  std::string deep = nested(kHostile);
  for (const auto& [what, body] : std::vector<Case>{{"unknown field", messagesWithUnknownField(deep)},
                                                    {"input schema", messagesWithInputSchema(deep)},
                                                    {"tool_use input", messagesWithToolUseInput(deep)}}) {
    INFO(what);
    ChatCall call;
    RequestError error;
    CHECK_FALSE(buildMessagesCall(body, {}, &call, &error));
    CHECK(namesTheLimit(error.message));
  }
  ChatCall call;
  RequestError error;
  CHECK_FALSE(buildEmbeddingsCall(embeddingsWithUnknownField(deep), {}, &call, &error));
  CHECK(namesTheLimit(error.message));
}

TEST_CASE("deep json: a 100-level tool schema is carried to the wire request intact") {
  std::string schema = nested(100);
  ChatCall call;
  RequestError error;
  REQUIRE(buildChatCall(chatWithToolParameters(schema), {}, &call, &error));
  const auto* tools = call.request->params()->tools();
  REQUIRE(tools);
  CHECK(tools->Get(0)->parameters_json()->str() == schema);
}

TEST_CASE("deep json via daemon: chat bodies get a 400 invalid_request_error and the daemon keeps serving") {
  HttpRig rig;
  std::string deep = nested(kHostile);
  for (const auto& [what, body] : std::vector<Case>{{"unknown field", chatWithUnknownField(deep)},
                                                    {"tool parameters", chatWithToolParameters(deep)},
                                                    {"response schema", chatWithResponseSchema(deep)},
                                                    {"tool call arguments", chatWithToolCallArguments(deep)}}) {
    INFO(what);
    HttpReply r = rig.send(body, "/v1/chat/completions");
    CHECK(r.status == 400);
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    REQUIRE(d.IsObject());
    REQUIRE(d.HasMember("error"));
    CHECK(std::string(d["error"]["type"].GetString()) == "invalid_request_error");
    CHECK(namesTheLimit(d["error"]["message"].GetString()));
  }
  // The arguments are checked by the chain, which names the field.
  HttpReply r = rig.send(chatWithToolCallArguments(deep), "/v1/chat/completions");
  CHECK(r.body.find("messages[0].tool_calls[0].arguments") != std::string::npos);
  rig.expectServing();
}

TEST_CASE("deep json via daemon: Messages bodies get Anthropic's 400 invalid_request_error") {
  HttpRig rig;
  std::string deep = nested(kHostile);
  for (const auto& [what, body] : std::vector<Case>{{"unknown field", messagesWithUnknownField(deep)},
                                                    {"input schema", messagesWithInputSchema(deep)},
                                                    {"tool_use input", messagesWithToolUseInput(deep)}}) {
    INFO(what);
    HttpReply r = rig.send(body, "/v1/messages");
    CHECK(r.status == 400);
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    REQUIRE(d.IsObject());
    REQUIRE(d.HasMember("error"));
    CHECK(std::string(d["type"].GetString()) == "error");
    CHECK(std::string(d["error"]["type"].GetString()) == "invalid_request_error");
    CHECK(namesTheLimit(d["error"]["message"].GetString()));
  }
  rig.expectServing();
}

TEST_CASE("deep json via daemon: an embeddings body gets a 400 invalid_request_error") {
  HttpRig rig;
  HttpReply r = rig.send(embeddingsWithUnknownField(nested(kHostile)), "/v1/embeddings");
  CHECK(r.status == 400);
  CHECK(r.body.find("\"type\":\"invalid_request_error\"") != std::string::npos);
  CHECK(namesTheLimit(r.body));
  rig.expectServing();
}
