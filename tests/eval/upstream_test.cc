// Through provider.openai on the scripted OpenAI upstream (tests/upstream/upstream.py): the
// eval's requests and the judge's cross real HTTP, and the upstream's own request log shows the
// judge asked once per case, and not at all on a re-run.
#include <catch2/catch.hpp>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>

#include "daemon_rig.h"
#include "eval_fixture.h"
#include "upstream_process.h"

using namespace outrigger::testing;

namespace {

// Requests the upstream logged whose body contains `marker`, and all of them.
std::pair<size_t, size_t> loggedRequests(UpstreamProcess& upstream, const std::string& marker) {
  rapidjson::Document log;
  log.Parse(upstream.log().c_str());
  size_t marked = 0;
  if (!log.IsArray()) return {0, 0};
  for (const auto& r : log.GetArray()) {
    if (!r.HasMember("body")) continue;
    rapidjson::StringBuffer body;  // the request body, which the log keeps parsed
    rapidjson::Writer<rapidjson::StringBuffer> w(body);
    r["body"].Accept(w);
    if (std::string(body.GetString()).find(marker) != std::string::npos) ++marked;
  }
  return {marked, log.Size()};
}

}  // namespace

TEST_CASE("upstream: a case's tools and response_format reach the upstream, over the socket and in process") {
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  std::string config = "[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
                       openaiInstance("openai", upstream.baseUrl()) + "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-test\"\n";
  DaemonProcess d(config);
  REQUIRE(d.waitReady());
  writeText(d.dir() + "/cases.jsonl",
            R"({"id": "t", "prompt": "weather?", "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}], "response_format": {"type": "json_object"}})" "\n");
  std::string eval = writeEvalFile(d, "tools", "cases.jsonl", "[[scorers]]\ntype = \"json_valid\"\ngate = false\n");

  auto over_socket = outriggerEval(d, "run " + eval);
  INFO(over_socket.second);
  CHECK(over_socket.first == 0);
  CHECK(loggedRequests(upstream, "\"get_weather\"").first == 1);
  CHECK(loggedRequests(upstream, "\"json_object\"").first == 1);

  std::string in_process = d.dir() + "/in_process.toml";
  std::string text = readText(d.configPath());
  writeText(in_process, text);
  auto [code, out] = runCommand(std::string(OUTRIGGER_BIN) + " eval run " + eval + " --config " + in_process);
  INFO(out);
  CHECK(code == 0);
  CHECK(loggedRequests(upstream, "\"get_weather\"").first == 2);
  CHECK(loggedRequests(upstream, "\"json_object\"").first == 2);
}

TEST_CASE("upstream: through provider.openai the judge reaches the upstream once per case and a re-run sends it nothing") {
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  REQUIRE(upstream.post("/_control/script",
                        R"({"steps": [], "default": {"text": "{\"score\": 0.3, \"reason\": \"too vague\", \"pass\": false}"}})") == 200);
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess d("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
                  openaiInstance("openai", upstream.baseUrl()) +
                  "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-test\"\n"
                  "[routes.judge]\nprovider = \"openai\"\nmodel = \"judge-model\"\n");
  REQUIRE(d.waitReady());
  writeText(d.dir() + "/cases.jsonl", "{\"id\": \"a\", \"prompt\": \"first\"}\n{\"id\": \"b\", \"prompt\": \"second\"}\n");
  std::string eval = writeEvalFile(d, "upstream", "cases.jsonl",
                                   "[[scorers]]\ntype = \"json_valid\"\n"
                                   "[[scorers]]\ntype = \"judge\"\nroute = \"judge\"\nrubric = \"Is it specific?\"\n");
  auto first = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/1.json");
  INFO(first.second);
  CHECK(first.first == 0);  // json_valid passes; the uncalibrated judge does not gate
  auto doc = readJson(d.dir() + "/1.json");
  CHECK(scoreVerdict(doc, "a", "json_valid") == "pass");
  CHECK(scoreVerdict(doc, "a", "judge") == "fail");
  CHECK(std::string(resultCase(doc, "b")["scores"][1]["reason"].GetString()) == "too vague");
  auto [judged, total] = loggedRequests(upstream, "Rubric:");
  CHECK(judged == 2);
  CHECK(total == 4);  // two answers, two judgements

  auto second = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/2.json");
  INFO(second.second);
  CHECK(second.first == 0);
  auto [judged_again, total_again] = loggedRequests(upstream, "Rubric:");
  CHECK(judged_again == 2);
  CHECK(total_again == 6);  // only the two answers again
  CHECK(scoreVerdict(readJson(d.dir() + "/2.json"), "b", "judge") == "fail");
}
