// `outrigger eval run --config`: the chain built in the eval's own process, no daemon and no
// socket, answering as the daemon does (guardrail denials, tool calls, judge routes, deadlines).
#include <catch2/catch.hpp>

#include <unistd.h>

#include "eval_fixture.h"

using namespace outrigger::testing;

namespace {

// The fixture daemon's config, written for an in-process chain.
std::string writeConfig(const std::string& dir) {
  std::string text = evalDaemonConfig();
  for (auto [from, to] : {std::pair<std::string, std::string>{"@SOCKET@", dir + "/never.sock"}, {"@PLUGINS@", OUTRIGGER_PLUGIN_DIR}}) {
    for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size())) text.replace(p, from.size(), to);
  }
  writeText(dir + "/sidecar.toml", text);
  return dir + "/sidecar.toml";
}

}  // namespace

TEST_CASE("in process: --config runs the chain in the eval's process with the daemon's answers, denials and deadlines") {
  std::string dir = makeTempDir();
  std::string config = writeConfig(dir);
  writeText(dir + "/cases.jsonl",
            "{\"id\": \"echo\", \"prompt\": \"hello\", \"expected\": \"hello\"}\n"
            "{\"id\": \"tool\", \"prompt\": \"weather?\", \"extra\": {\"mock\": {\"tool_calls\": [{\"id\": \"1\", \"name\": \"get_weather\", \"arguments\": \"{}\"}]}}, \"expected_tool_calls\": [{\"name\": \"get_weather\"}]}\n"
            "{\"id\": \"denied\", \"prompt\": \"a forbidden phrase\"}\n"
            "{\"id\": \"hangs\", \"prompt\": \"x\", \"extra\": {\"mock\": {\"hang\": true}}}\n");
  writeText(dir + "/e.toml",
            "dataset = \"cases.jsonl\"\ntimeout_ms = 300\nretries = 0\n[[targets]]\nroute = \"default\"\n"
            "[[scorers]]\ntype = \"exact\"\ngate = false\n[[scorers]]\ntype = \"tool_call\"\ngate = false\n"
            "[[scorers]]\ntype = \"judge\"\nroute = \"judge_no\"\nrubric = \"Is it right?\"\n");
  auto [code, out] = runCommand(std::string(OUTRIGGER_BIN) + " eval run " + dir + "/e.toml --config " + config + " --json " + dir + "/r.json");
  INFO(out);
  CHECK(code == 2);  // the denied and the hanging case could not be evaluated
  auto doc = readJson(dir + "/r.json");
  CHECK(scoreVerdict(doc, "echo", "exact") == "pass");
  CHECK(scoreVerdict(doc, "tool", "tool_call") == "pass");
  CHECK(scoreVerdict(doc, "echo", "judge") == "fail");  // the judge route answered, in process too
  CHECK(std::string(resultCase(doc, "denied")["error"].GetString()).find("PERMISSION_DENIED") != std::string::npos);
  CHECK(std::string(resultCase(doc, "hangs")["error"].GetString()).find("DEADLINE_EXCEEDED") != std::string::npos);
  CHECK(::access((dir + "/never.sock").c_str(), F_OK) != 0);  // nothing listened

  auto bad = runCommand(std::string(OUTRIGGER_BIN) + " eval run " + dir + "/e.toml --config " + dir + "/missing.toml");
  CHECK(bad.first == 2);
}
