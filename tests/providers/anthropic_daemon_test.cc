// provider.anthropic through the real daemon and the scripted upstream, and OpenAI falling back
// to Anthropic.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include <outrigger/client.h>

#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;

namespace {

constexpr char kKey[] = "sk-ant-planted-0d9e8f7a6b5c";

struct Rig {
  UpstreamProcess openai, anthropic;
  std::unique_ptr<DaemonProcess> daemon;
  std::unique_ptr<client::Client> client;
  // `route_extra`: lines added to the single-target route (and the instances they name).
  explicit Rig(bool with_fallback, const std::string& route_extra = "") {
    REQUIRE(anthropic.ready());
    ::setenv("OUTRIGGER_TEST_ANTHROPIC_KEY", kKey, 1);
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    std::string config = "[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n"
                         "[instances.claude]\ntype = \"provider.anthropic\"\n[instances.claude.config]\n"
                         "base_url = \"" + anthropic.baseUrl() + "\"\napi_key = \"${OUTRIGGER_TEST_ANTHROPIC_KEY}\"\n";
    if (with_fallback) {
      REQUIRE(openai.ready());
      config += "[instances.openai]\ntype = \"provider.openai\"\n[instances.openai.config]\nbase_url = \"" +
                openai.baseUrl() + "/v1\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n"
                "[routes.default]\ntargets = [{ provider = \"openai\", model = \"gpt-a\" }, "
                "{ provider = \"claude\", model = \"claude-b\" }]\n";
    } else {
      config += "[routes.default]\nprovider = \"claude\"\nmodel = \"claude-b\"\n" + route_extra;
    }
    daemon = std::make_unique<DaemonProcess>(config);
    REQUIRE(daemon->waitReady());
    client = std::make_unique<client::Client>(at(*daemon));
  }
  rapidjson::Document log(UpstreamProcess& up) {
    rapidjson::Document d;
    d.Parse(up.log().c_str());
    return d;
  }
};

}  // namespace

TEST_CASE("anthropic via daemon: unary and stream keep text, usage and stop reason, headers are right") {
  Rig rig(false);
  auto r = rig.client->chat(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r.value().content == "Hello from upstream");
  CHECK(r.value().finish_reason == "stop");
  CHECK(r.value().usage.prompt_tokens == 13);
  CHECK(r.value().usage.cached_tokens == 3);
  CHECK(r.value().usage.completion_tokens == 6);
  auto s = rig.client->stream(ask("hello"));
  client::Chunk chunk;
  std::string text;
  while (s.next(&chunk)) text += chunk.delta;
  REQUIRE(s.result().ok());
  CHECK(text == "Hello from upstream");
  CHECK(s.result().value().usage.completion_tokens == 6);
  auto log = rig.log(rig.anthropic);
  REQUIRE(log.Size() == 2);
  CHECK(std::string(log[0]["path"].GetString()) == "/v1/messages");
  CHECK(std::string(log[0]["headers"]["x-api-key"].GetString()) == kKey);
  CHECK(std::string(log[0]["headers"]["anthropic-version"].GetString()) == "2023-06-01");
  CHECK(log[0]["body"]["max_tokens"].GetUint() == 4096);
  CHECK(rig.daemon->log().find(kKey) == std::string::npos);
}

TEST_CASE("anthropic via daemon: streamed tool use, 529 retryable, spend limit final, cut stream typed") {
  Rig rig(false);
  REQUIRE(rig.anthropic.script(R"([
      {"fault":"ok","text":"","tool_calls":[{"id":"toolu_7","name":"lookup","arguments":"{\"city\":\"Oslo\"}"}]},
      {"fault":"status","code":529},
      {"fault":"status","code":429,"error_code":"enforced_spend_limit_reached"},
      {"fault":"no_terminal"}])"));
  auto s = rig.client->stream(ask("weather?"));
  client::Chunk chunk;
  while (s.next(&chunk)) {
  }
  REQUIRE(s.result().ok());
  REQUIRE(s.result().value().tool_calls.size() == 1);
  CHECK(s.result().value().tool_calls[0].name == "lookup");
  CHECK(s.result().value().tool_calls[0].arguments == "{\"city\":\"Oslo\"}");
  CHECK(s.result().value().finish_reason == "tool_calls");
  auto over = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == StatusCode::kUnavailable);
  CHECK(over.error().retryable);
  auto spend = rig.client->chat(ask("hello"));
  REQUIRE_FALSE(spend.ok());
  CHECK(spend.error().code == StatusCode::kResourceExhausted);
  CHECK_FALSE(spend.error().retryable);
  auto cut = rig.client->stream(ask("hello"));
  while (cut.next(&chunk)) {
  }
  REQUIRE_FALSE(cut.result().ok());
  CHECK(cut.result().error().message.find("terminal event") != std::string::npos);
}

// The same for message_stop: an upstream that holds the body open after it does not hold the
// caller's end frame until the idle timeout.
TEST_CASE("anthropic via daemon: a stream held open after message_stop ends without waiting") {
  Rig rig(false);
  REQUIRE(rig.anthropic.script(R"([{"fault":"hold_after_terminal","ms":20000,"text":"held"}])"));
  auto began = std::chrono::steady_clock::now();
  auto s = rig.client->stream(ask("hello"));
  client::Chunk chunk;
  std::string text;
  while (s.next(&chunk)) text += chunk.delta;
  auto took = std::chrono::steady_clock::now() - began;
  REQUIRE(s.result().ok());
  CHECK(text == "held");
  CHECK(s.result().value().finish_reason == "stop");
  CHECK(took < std::chrono::seconds(5));
}

TEST_CASE("anthropic via daemon: OpenAI failing over to Anthropic, usage and finish reason preserved") {
  Rig rig(true);
  REQUIRE(rig.openai.script(R"([{"fault":"status","code":503}])"));
  auto r = rig.client->chat(ask("hello"));
  REQUIRE(r.ok());
  CHECK(r.value().model == "claude-b");
  CHECK(r.value().content == "Hello from upstream");
  CHECK(r.value().finish_reason == "stop");
  CHECK(r.value().usage.completion_tokens == 6);
  CHECK(rig.log(rig.openai).Size() == 1);
  CHECK(rig.log(rig.anthropic).Size() == 1);
}

// Anthropic says a stream was a refusal only in its stop_reason, at the end. With a guardrail
// holding the last text until then, the chunks released after it were marked refusal: the
// stream turned into a refusal halfway through and finished "stop" on the chat front.
TEST_CASE("anthropic via daemon: a refusal known at the end marks no chunk, whatever a guardrail held") {
  for (const std::string& extra :
       {std::string(), std::string("guardrails = [\"pii\"]\n[instances.pii]\ntype = \"guardrail.pii\"\n")}) {
    INFO(extra);
    Rig rig(false, extra);
    REQUIRE(rig.anthropic.script(R"([{"fault":"refusal","text":"I cannot email john.doe@example.com sorry"}])"));
    auto s = rig.client->stream(ask("hello"));
    client::Chunk chunk;
    std::string text;
    int refusal_chunks = 0;
    while (s.next(&chunk)) {
      text += chunk.delta;
      refusal_chunks += chunk.refusal;
    }
    REQUIRE(s.result().ok());
    CHECK(refusal_chunks == 0);
    CHECK(s.result().value().finish_reason == "content_filter");
    CHECK(text == (extra.empty() ? "I cannot email john.doe@example.com sorry" : "I cannot email <EMAIL_1> sorry"));
  }
}

// Some Anthropic-compatible servers end a stream with OpenAI's "data: [DONE]" after message_stop:
// it was decoded as an event, was not JSON, and failed a whole answer the caller had received.
TEST_CASE("anthropic via daemon: a [DONE] after message_stop leaves the answer whole") {
  Rig rig(false);
  REQUIRE(rig.anthropic.script(R"([{"fault":"after_terminal","text":"whole"}])"));
  auto s = rig.client->stream(ask("hello"));
  client::Chunk chunk;
  std::string text;
  while (s.next(&chunk)) text += chunk.delta;
  INFO((s.result().ok() ? std::string() : s.result().error().message));
  REQUIRE(s.result().ok());
  CHECK(text == "whole");
  CHECK(s.result().value().finish_reason == "stop");
}
