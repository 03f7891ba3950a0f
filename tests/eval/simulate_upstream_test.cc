// `outrigger eval simulate` through provider.openai on the scripted fault upstream
// (tests/upstream/upstream.py): what the persona route is sent (its persona, the goal and the
// conversation with the roles flipped), a target that stops answering mid-conversation, and a
// simulation recorded on a cassette then replayed with no upstream at all.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "daemon_rig.h"
#include "simulate_fixture.h"
#include "support/admin_metrics.h"
#include "upstream_process.h"

using namespace outrigger::testing;

namespace {

// Persona and target on one openai instance (models persona-model and gpt-test), a flagging
// guardrail on the target, the fixed judge on a mock; `cassette`: a [cassette] table body.
std::string upstreamConfig(const std::string& base_url, const std::string& cassette = "") {
  return daemonHead() + openaiInstance("openai", base_url) +
         (cassette.empty() ? "" : "[instances.openai.config.cassette]\n" + cassette) +
         "[instances.input_rules]\ntype = \"guardrail.rules\"\n[instances.input_rules.config]\nflag_patterns = ['(?i)order']\n"
         "[instances.judge_yes]\ntype = \"provider.mock\"\n[instances.judge_yes.config]\nmode = \"fixed\"\n"
         "text = '{\"score\": 0.9, \"reason\": \"helped\", \"pass\": true}'\n"
         "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-test\"\nguardrails = [\"input_rules\"]\n"
         "[routes.persona]\nprovider = \"openai\"\nmodel = \"persona-model\"\n"
         "[routes.judge_yes]\nprovider = \"judge_yes\"\n"
         "[prices.\"openai/gpt-test\"]\ninput = 0.000001\noutput = 0.000002\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n";
}

// The upstream answers in order: persona, target, persona, target, then the persona is done.
const char* kConversationSteps = R"([
  {"text": "Hi, where is my order 1234?", "usage": {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38}},
  {"text": "It ships tomorrow.", "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}},
  {"text": "Can it come sooner?", "usage": {"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45}},
  {"text": "Express delivery is available for 5 dollars.", "usage": {"prompt_tokens": 25, "completion_tokens": 8, "total_tokens": 33}},
  {"text": "OK thanks. [DONE]"}])";

const char* kScenario = "[[scenarios]]\nname = \"late order\"\ngoal = \"Find out when order 1234 arrives.\"\npersonas = [\"impatient\"]\nmax_turns = 4\n";

// The request bodies the upstream logged, in order.
rapidjson::Document loggedBodies(UpstreamProcess& upstream) { return parseJson(upstream.log()); }

}  // namespace

TEST_CASE("simulate upstream: the persona route gets its persona, the goal and the conversation with the roles flipped, at temperature 0 with a seed") {
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  REQUIRE(upstream.script(kConversationSteps));
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess d(upstreamConfig(upstream.baseUrl()));
  REQUIRE(d.waitReady());
  std::string sim = writeSimulationFile(d.dir(), "late", "persona", "judge_yes", kScenario);
  auto [code, out] = outriggerEval(d, "simulate " + sim + " --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 0);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(resultCase(doc, "late order/impatient")["turns"].Size() == 3);

  auto log = loggedBodies(upstream);
  REQUIRE(log.IsArray());
  REQUIRE(log.Size() == 5);
  const auto& second_persona = log[2]["body"];
  CHECK(std::string(second_persona["model"].GetString()) == "persona-model");
  CHECK(second_persona["temperature"].GetDouble() == 0);
  CHECK(second_persona["seed"].GetInt64() == 7);
  const auto& m = second_persona["messages"];
  REQUIRE(m.Size() == 4);
  std::string system = m[0]["content"].GetString();
  CHECK(std::string(m[0]["role"].GetString()) == "system");
  CHECK(system.find("You are in a hurry") != std::string::npos);  // the built-in impatient persona
  CHECK(system.find("Find out when order 1234 arrives.") != std::string::npos);
  CHECK(system.find("[DONE]") != std::string::npos);
  CHECK(std::string(m[1]["role"].GetString()) == "user");
  CHECK(std::string(m[2]["role"].GetString()) == "assistant");  // its own first message
  CHECK(std::string(m[2]["content"].GetString()) == "Hi, where is my order 1234?");
  CHECK(std::string(m[3]["role"].GetString()) == "user");       // the target's answer
  CHECK(std::string(m[3]["content"].GetString()) == "It ships tomorrow.");
  const auto& second_target = log[3]["body"]["messages"];
  REQUIRE(second_target.Size() == 3);  // user, assistant, user: the target sees the conversation as it was
  CHECK(std::string(second_target[1]["role"].GetString()) == "assistant");
}

TEST_CASE("simulate upstream: a target that times out mid-conversation is a typed error, exit 2, or a failure when configured so") {
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  const std::string steps = R"([{"text": "Hi, where is my order?"}, {"text": "It ships tomorrow."},
                                {"text": "Sooner?"}, {"fault": "hang", "ms": 3000}])";
  REQUIRE(upstream.script(steps));
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess d(upstreamConfig(upstream.baseUrl()));
  REQUIRE(d.waitReady());
  std::string header = "timeout_ms = 600\nretries = 0\n";
  std::string sim = writeSimulationFile(d.dir(), "timeout", "persona", "judge_yes", kScenario, header);
  auto [code, out] = outriggerEval(d, "simulate " + sim + " --json " + d.dir() + "/r.json --junit " + d.dir() + "/r.xml");
  INFO(out);
  CHECK(code == 2);
  auto doc = readJson(d.dir() + "/r.json");
  const auto& c = resultCase(doc, "late order/impatient");
  REQUIRE(c.IsObject());
  CHECK(std::string(c["status"].GetString()) == "error");
  CHECK(std::string(c["ended"].GetString()) == "target_error");
  REQUIRE(c["turns"].Size() == 2);
  CHECK(std::string(c["turns"][0]["answer"].GetString()) == "It ships tomorrow.");
  CHECK(std::string(c["turns"][1]["error_code"].GetString()) == "DEADLINE_EXCEEDED");
  CHECK(std::string(c["error"].GetString()).find("DEADLINE_EXCEEDED") != std::string::npos);
  CHECK(readText(d.dir() + "/r.xml").find("<error") != std::string::npos);

  REQUIRE(upstream.script(steps));
  std::string failing = writeSimulationFile(d.dir(), "timeout_fails", "persona", "judge_yes", kScenario,
                                            header + "on_target_error = \"fail\"\n");
  auto [fail_code, fail_out] = outriggerEval(d, "simulate " + failing + " --json " + d.dir() + "/f.json");
  INFO(fail_out);
  CHECK(fail_code == 100);
  auto failed = readJson(d.dir() + "/f.json");
  CHECK(caseStatus(failed, "late order/impatient") == "fail");
  CHECK(scoreVerdict(failed, "late order/impatient", "answered") == "fail");
}

TEST_CASE("simulate upstream: a simulation recorded on a cassette replays with identical transcripts and no upstream") {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  std::string tape = makeTempDir() + "/simulation.jsonl";
  std::string recorded, dead_url, sim_rest = kScenario;
  {
    UpstreamProcess upstream;
    REQUIRE(upstream.ready());
    dead_url = upstream.baseUrl();
    REQUIRE(upstream.script(kConversationSteps));
    DaemonProcess record(upstreamConfig(upstream.baseUrl(), "mode = \"record\"\npath = \"" + tape + "\"\n"));
    REQUIRE(record.waitReady());
    std::string sim = writeSimulationFile(record.dir(), "late", "persona", "judge_yes", sim_rest);
    auto [code, out] = outriggerEval(record, "simulate " + sim + " --json " + record.dir() + "/recorded.json");
    INFO(out);
    CHECK(code == 0);
    recorded = allTranscripts(readJson(record.dir() + "/recorded.json"));
  }  // the upstream is gone from here on
  CHECK(recorded.find("Express delivery is available for 5 dollars.") != std::string::npos);
  CHECK(recorded.find("verdict: ") != std::string::npos);  // the flagging guardrail spoke

  DaemonProcess replay(upstreamConfig(dead_url, "mode = \"replay\"\npath = \"" + tape + "\"\n"));
  REQUIRE(replay.waitReady());
  std::string sim = writeSimulationFile(replay.dir(), "late", "persona", "judge_yes", sim_rest);
  auto [code, out] = outriggerEval(replay, "simulate " + sim + " --json " + replay.dir() + "/replayed.json");
  INFO(out);
  CHECK(code == 0);
  CHECK(allTranscripts(readJson(replay.dir() + "/replayed.json")) == recorded);
  CHECK(adminMetric(replay, "outrigger_upstream_connections_opened_total") == 0);
}
