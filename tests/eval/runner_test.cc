// How cases are run: the deadline of each request, concurrency, and the progress display (a
// bar on a terminal, plain lines otherwise).
#include <catch2/catch.hpp>

#include "eval_fixture.h"

using namespace outrigger::testing;

namespace {

std::string cases(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += "{\"id\": \"c" + std::to_string(i) + "\", \"prompt\": \"p" + std::to_string(i) + "\", \"expected\": \"p" + std::to_string(i) + "\"}\n";
  return text;
}

}  // namespace

TEST_CASE("runner: a case whose answer never comes ends at the eval's deadline as an error") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", cases(2) + "{\"id\": \"hangs\", \"prompt\": \"x\", \"extra\": {\"mock\": {\"hang\": true}}}\n");
  std::string eval = writeEvalFile(d, "deadline", "cases.jsonl", "[[scorers]]\ntype = \"exact\"\n", "timeout_ms = 300\nretries = 0\n");
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 2);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(caseStatus(doc, "hangs") == "error");
  CHECK(std::string(resultCase(doc, "hangs")["error"].GetString()).find("DEADLINE_EXCEEDED") != std::string::npos);
  CHECK(resultCase(doc, "hangs")["latency_ms"].GetDouble() >= 290);
  CHECK(caseStatus(doc, "c0") == "pass");
}

TEST_CASE("runner: cases run concurrently, so slow answers overlap") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  std::string text;
  for (int i = 0; i < 8; ++i) text += "{\"id\": \"s" + std::to_string(i) + "\", \"prompt\": \"slow\", \"extra\": {\"mock\": {\"latency_ms\": 300}}}\n";
  writeText(d.dir() + "/cases.jsonl", text);
  std::string eval = writeEvalFile(d, "parallel", "cases.jsonl", "[[scorers]]\ntype = \"contains\"\nvalue = \"slow\"\n");
  auto [code, out] = outriggerEval(d, "run " + eval + " -j 8 --json " + d.dir() + "/r.json");
  INFO(out);
  REQUIRE(code == 0);
  // Eight 300 ms answers one after another take 2.4 s; in flight together, about one of them.
  CHECK(readJson(d.dir() + "/r.json")["duration_s"].GetDouble() < 2.0);
}

TEST_CASE("runner: progress is a bar on a terminal and one plain line per case otherwise") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", cases(3));
  std::string eval = writeEvalFile(d, "progress", "cases.jsonl", "[[scorers]]\ntype = \"exact\"\n");
  auto plain = outriggerEval(d, "run " + eval);
  CHECK(plain.second.find("eval mock [3/3] ") != std::string::npos);
  CHECK(plain.second.find('\r') == std::string::npos);
  // script(1) gives the command a terminal.
  std::string cmd = std::string(OUTRIGGER_BIN) + " eval run " + eval + " --socket " + d.socket();
  auto tty = runCommand("script -qec '" + cmd + "' /dev/null");
  INFO(tty.second);
  CHECK(tty.first == 0);
  CHECK(tty.second.find("\rmock [##############################] 3/3  0 failed  0 errors") != std::string::npos);
  CHECK(tty.second.find("eval mock [") == std::string::npos);
}
