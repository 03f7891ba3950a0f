// The checked-in example (tests/eval/examples/) runs as documented against its sidecar config.
#include <catch2/catch.hpp>

#include "eval_fixture.h"

using namespace outrigger::testing;

TEST_CASE("example: the example eval passes against the example sidecar and its judge may gate") {
  std::string examples = EVAL_TEST_DIR "/examples";
  DaemonProcess d("[server]\nsocket = \"@SOCKET@\"\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" + readText(examples + "/sidecar.toml"));
  REQUIRE(d.waitReady());
  std::string cache = " --judge-cache " + d.dir() + "/judge.sqlite";
  auto calibrated = outriggerEval(d, "calibrate " + examples + "/support.eval.toml" + cache);
  INFO(calibrated.second);
  CHECK(calibrated.first == 0);
  auto [code, out] = outriggerEval(d, "run " + examples + "/support.eval.toml" + cache + " --json " + d.dir() + "/r.json --html " +
                                          d.dir() + "/r.html");
  INFO(out);
  CHECK(code == 0);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(doc["targets"][0]["passed"].GetUint() == 4);
  CHECK(scoreVerdict(doc, "ticket", "ticket JSON") == "pass");
  CHECK(scoreVerdict(doc, "password", "ticket JSON") == "absent");  // limited to the structured tag
  CHECK(scoreVerdict(doc, "order-status", "mentions the topic") == "absent");
  CHECK(scoreVerdict(doc, "order-status", "lookup call") == "pass");
  CHECK(scoreVerdict(doc, "refund", "politeness") == "pass");
  CHECK(out.find("judge 'politeness' gates: 100.0% agreement") != std::string::npos);
}

TEST_CASE("example: the example simulation plays each persona to its stop phrase and passes") {
  std::string examples = EVAL_TEST_DIR "/examples";
  DaemonProcess d("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" + readText(examples + "/sidecar.toml"));
  REQUIRE(d.waitReady());
  auto [code, out] = outriggerEval(d, "simulate " + examples + "/support.sim.toml --judge-cache " + d.dir() + "/judge.sqlite --json " +
                                          d.dir() + "/r.json --markdown " + d.dir() + "/r.md");
  INFO(out);
  CHECK(code == 0);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(doc["targets"][0]["passed"].GetUint() == 3);
  for (const char* id : {"locked out/confused", "locked out/impatient", "locked out/elderly"}) {
    INFO(id);
    CHECK(std::string(resultCase(doc, id)["ended"].GetString()) == "stop_phrase");
    CHECK(scoreVerdict(doc, id, "policy") == "pass");
  }
  CHECK(readText(d.dir() + "/r.md").find("persona:elderly") != std::string::npos);
}
