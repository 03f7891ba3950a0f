// A forced tool through the real daemon, from either front to either provider, against the
// recording upstream: OpenAI's {"type":"function","function":{"name":...}} and Anthropic's
// {"type":"tool","name":...} reach the upstream forced, in its own dialect, and a request for one
// tool call at a time (parallel_tool_calls: false, disable_parallel_tool_use: true) too; a tool
// named like a mode ("none", "required", "auto") stays that tool.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/raw_http.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;

namespace {

struct TwoProviders {
  UpstreamProcess upstream;
  std::unique_ptr<DaemonProcess> daemon;
  TwoProviders() {
    REQUIRE(upstream.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    daemon = std::make_unique<DaemonProcess>(
        "default_route = \"openai\"\n[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
        openaiInstance("openai", upstream.baseUrl()) +
        "[instances.claude]\ntype = \"provider.anthropic\"\n[instances.claude.config]\nbase_url = \"" +
        upstream.baseUrl() + "\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n" +
        "[routes.openai]\nprovider = \"openai\"\nmodel = \"gpt-test\"\n"
        "[routes.anthropic]\nprovider = \"claude\"\nmodel = \"claude-test\"\n"
        "[http]\nlisten = \"127.0.0.1:0\"\n");
    REQUIRE(daemon->waitReady());
  }
};

// The body each front sends: one tool, forced, one call at a time.
std::string chatBody(const std::string& route, const std::string& tool) {
  return R"({"model":")" + route + R"(","messages":[{"role":"user","content":"x"}],)"
         R"("tools":[{"type":"function","function":{"name":")" + tool + R"(","parameters":{"type":"object"}}}],)"
         R"("tool_choice":{"type":"function","function":{"name":")" + tool + R"("}},"parallel_tool_calls":false})";
}
std::string messagesBody(const std::string& route, const std::string& tool) {
  return R"({"model":")" + route + R"(","max_tokens":16,"messages":[{"role":"user","content":"x"}],)"
         R"("tools":[{"name":")" + tool + R"(","input_schema":{"type":"object"}}],)"
         R"("tool_choice":{"type":"tool","name":")" + tool + R"(","disable_parallel_tool_use":true}})";
}

}  // namespace

TEST_CASE("tool choice via daemon: a forced tool stays forced from either front to either provider, a tool named like a mode too") {
  TwoProviders rig;
  int port = httpPort(*rig.daemon);
  REQUIRE(port != 0);
  for (const char* tool : {"lookup", "none", "required", "auto"}) {
    for (const char* front : {"/v1/chat/completions", "/v1/messages"}) {
      for (const char* route : {"openai", "anthropic"}) {
        INFO(front << " -> " << route << ", forcing the tool named " << tool);
        REQUIRE(rig.upstream.reset());
        std::string body = std::string(front) == "/v1/messages" ? messagesBody(route, tool) : chatBody(route, tool);
        HttpReply reply = roundTrip(port, post(body, front));
        INFO(reply.body);
        CHECK(reply.status == 200);
        rapidjson::Document log = parseJson(rig.upstream.log());
        REQUIRE(log.IsArray());
        REQUIRE(log.Size() == 1);
        const auto& sent = log[0]["body"];
        REQUIRE(sent.HasMember("tool_choice"));
        const auto& choice = sent["tool_choice"];
        REQUIRE(choice.IsObject());
        if (std::string(route) == "openai") {
          CHECK(std::string(choice["type"].GetString()) == "function");
          CHECK(std::string(choice["function"]["name"].GetString()) == tool);
          REQUIRE(sent.HasMember("parallel_tool_calls"));
          CHECK(sent["parallel_tool_calls"].IsFalse());
        } else {
          CHECK(std::string(choice["type"].GetString()) == "tool");
          CHECK(std::string(choice["name"].GetString()) == tool);
          CHECK(choice["disable_parallel_tool_use"].IsTrue());
          CHECK_FALSE(sent.HasMember("parallel_tool_calls"));  // the Messages API refuses OpenAI's name
        }
      }
    }
  }
}
