// Every scorer through the real chain: the real `outrigger eval run` against a real daemon,
// each scorer passing on an answer that meets it and failing on one that does not.
#include <catch2/catch.hpp>

#include <cmath>

#include "eval/scorer.h"
#include "eval_fixture.h"

using namespace outrigger::testing;

namespace {

const char* kCases = R"({"id": "greet", "prompt": "Hello, {{who}}", "vars": {"who": "world"}, "expected": "Hello, world", "tags": ["text"]}
{"id": "typo", "messages": [{"role": "user", "content": "Hello, wordl"}], "expected": "Hello, world", "tags": ["text"]}
{"id": "far", "messages": [{"role": "user", "content": "Goodbye"}], "expected": "Hello, world", "tags": ["text"]}
{"id": "json-ok", "messages": [{"role": "user", "content": "{\"city\": \"Paris\", \"temp\": 21}"}], "tags": ["json"]}
{"id": "json-wrong-type", "messages": [{"role": "user", "content": "{\"city\": \"Paris\", \"temp\": \"warm\"}"}], "tags": ["json"]}
{"id": "not-json", "messages": [{"role": "user", "content": "Paris is warm"}], "tags": ["json"]}
{"id": "tool-ok", "messages": [{"role": "user", "content": "weather in Paris?"}], "tags": ["tools"], "extra": {"mock": {"tool_calls": [{"id": "c1", "name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"C\"}"}]}}, "expected_tool_calls": [{"name": "get_weather", "arguments": {"unit": "C", "city": "Paris"}}]}
{"id": "tool-wrong-args", "messages": [{"role": "user", "content": "weather in Paris?"}], "tags": ["tools"], "extra": {"mock": {"tool_calls": [{"id": "c1", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}]}}, "expected_tool_calls": [{"name": "get_weather", "arguments": {"city": "Lyon"}}]}
{"id": "slow", "messages": [{"role": "user", "content": "take your time"}], "extra": {"mock": {"latency_ms": 2000}}, "tags": ["slow"]}
{"id": "long", "messages": [{"role": "user", "content": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"}], "tags": ["text"]}
)";

const char* kScorers = R"([[scorers]]
type = "exact"
gate = false
[[scorers]]
type = "contains"
value = "world"
gate = false
[[scorers]]
type = "regex"
pattern = '^Hello, \w+$'
gate = false
[[scorers]]
type = "levenshtein"
threshold = 0.8
gate = false
[[scorers]]
type = "json_valid"
gate = false
[[scorers]]
type = "json_schema"
schema = '{"type": "object", "required": ["city", "temp"], "properties": {"temp": {"type": "number"}}}'
gate = false
[[scorers]]
type = "tool_call"
gate = false
[[scorers]]
type = "latency"
max_ms = 1000  # far above an answer on a loaded machine, far below "slow"
gate = false
[[scorers]]
type = "cost"
max_usd = 0.02
gate = false
)";

}  // namespace

TEST_CASE("text scorers: exact, contains, regex and levenshtein pass and fail on real answers") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", kCases);
  std::string eval = writeEvalFile(d, "scorers", "cases.jsonl", kScorers);
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 0);  // no gating scorer: every case passes
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(scoreVerdict(doc, "greet", "exact") == "pass");
  CHECK(scoreVerdict(doc, "typo", "exact") == "fail");
  CHECK(scoreVerdict(doc, "greet", "contains") == "pass");
  CHECK(scoreVerdict(doc, "typo", "contains") == "fail");
  CHECK(scoreVerdict(doc, "greet", "regex") == "pass");
  CHECK(scoreVerdict(doc, "far", "regex") == "fail");
  CHECK(scoreVerdict(doc, "typo", "levenshtein") == "pass");  // 2 edits in 12 bytes
  CHECK(scoreVerdict(doc, "far", "levenshtein") == "fail");
  // No reference: an empty answer passed and any other failed; it cannot run, as exact cannot.
  CHECK(scoreVerdict(doc, "json-ok", "levenshtein") == "error");
  CHECK(std::string(resultCase(doc, "greet")["output"].GetString()) == "Hello, world");
  CHECK(std::string(resultCase(doc, "typo")["expected"].GetString()) == "Hello, world");
}

TEST_CASE("JSON scorers: valid JSON, JSON Schema and tool calls by name and arguments pass and fail on real answers") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", kCases);
  std::string eval = writeEvalFile(d, "scorers", "cases.jsonl", kScorers);
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  REQUIRE(code == 0);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(scoreVerdict(doc, "json-ok", "json_valid") == "pass");
  CHECK(scoreVerdict(doc, "not-json", "json_valid") == "fail");
  CHECK(scoreVerdict(doc, "json-ok", "json_schema") == "pass");
  CHECK(scoreVerdict(doc, "json-wrong-type", "json_schema") == "fail");
  CHECK(scoreVerdict(doc, "not-json", "json_schema") == "fail");
  CHECK(scoreVerdict(doc, "tool-ok", "tool_call") == "pass");  // key order differs, values equal
  CHECK(scoreVerdict(doc, "tool-wrong-args", "tool_call") == "fail");
  CHECK(scoreVerdict(doc, "greet", "tool_call") == "error");  // the case names no expected calls
}

TEST_CASE("latency and cost ceilings pass and fail on the recorded latency and the daemon's cost") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", kCases);
  std::string eval = writeEvalFile(d, "scorers", "cases.jsonl", kScorers);
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  REQUIRE(code == 0);
  auto doc = readJson(d.dir() + "/r.json");
  // The mock's 2 s wait is a libuv timer, due on the loop's millisecond clock (truncated, read
  // before the request arrived): it can fire up to a millisecond before 2 s have passed.
  CHECK(resultCase(doc, "slow")["latency_ms"].GetDouble() >= 1998);
  CHECK(scoreVerdict(doc, "slow", "latency") == "fail");
  CHECK(scoreVerdict(doc, "greet", "latency") == "pass");
  // Priced at $0.001 a token (the mock counts words): 2 + 2 words pass, 20 + 20 do not.
  CHECK(resultCase(doc, "greet")["cost_usd"].GetDouble() > 0);
  CHECK(scoreVerdict(doc, "greet", "cost") == "pass");
  CHECK(scoreVerdict(doc, "long", "cost") == "fail");
  CHECK(doc["targets"][0]["cost_usd"].GetDouble() > resultCase(doc, "long")["cost_usd"].GetDouble());
}

TEST_CASE("embedding similarity through the embeddings route passes on the same text and fails on another") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  std::string url = httpFrontUrl(d);
  REQUIRE_FALSE(url.empty());
  writeText(d.dir() + "/cases.jsonl",
            "{\"id\": \"same\", \"prompt\": \"the cat sat on the mat\", \"expected\": \"the cat sat on the mat\"}\n"
            "{\"id\": \"other\", \"prompt\": \"the cat sat on the mat\", \"expected\": \"quarterly revenue grew\"}\n");
  std::string eval = writeEvalFile(d, "embed", "cases.jsonl",
                                   "[[scorers]]\ntype = \"embedding\"\nroute = \"default\"\nthreshold = 0.8\n",
                                   "embeddings_url = \"" + url + "\"\n");
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 100);  // "other" fails a gating scorer and there is no baseline
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(scoreVerdict(doc, "same", "embedding") == "pass");
  CHECK(scoreVerdict(doc, "other", "embedding") == "fail");
  CHECK(resultCase(doc, "same")["scores"][0]["score"].GetDouble() > 0.999);
}

TEST_CASE("an external command scorer decides pass and fail, and one that crashes, hangs or lingers is an error") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/says_yes.py",
            "import json, sys\nreq = json.load(sys.stdin)\nok = 'yes' in req['output']\n"
            "print(json.dumps({'pass': ok, 'score': 1 if ok else 0, 'reason': 'case ' + req['case']['id']}))\n");
  writeText(d.dir() + "/crashes.py", "import sys\nsys.exit(3)\n");
  writeText(d.dir() + "/hangs.py", "import time\ntime.sleep(30)\n");
  writeText(d.dir() + "/lingers.py", "import os, time\nos.close(1)\ntime.sleep(60)\n");  // closes stdout, runs on
  writeText(d.dir() + "/cases.jsonl", "{\"id\": \"yes\", \"prompt\": \"yes indeed\"}\n{\"id\": \"no\", \"prompt\": \"no way\"}\n");
  std::string scorers = "[[scorers]]\ntype = \"command\"\nname = \"says_yes\"\ncommand = [\"python3\", \"says_yes.py\"]\n";
  std::string eval = writeEvalFile(d, "command", "cases.jsonl", scorers);
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 100);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(scoreVerdict(doc, "yes", "says_yes") == "pass");
  CHECK(scoreVerdict(doc, "no", "says_yes") == "fail");
  CHECK(std::string(resultCase(doc, "no")["scores"][0]["reason"].GetString()) == "case no");

  std::string broken = writeEvalFile(d, "broken", "cases.jsonl",
                                     "[[scorers]]\ntype = \"command\"\nname = \"crashes\"\ncommand = [\"python3\", \"crashes.py\"]\n"
                                     "[[scorers]]\ntype = \"command\"\nname = \"hangs\"\ncommand = [\"python3\", \"hangs.py\"]\ntimeout_ms = 300\n"
                                     "[[scorers]]\ntype = \"command\"\nname = \"lingers\"\ncommand = [\"python3\", \"lingers.py\"]\ntimeout_ms = 300\n");
  auto [broken_code, broken_out] = outriggerEval(d, "run " + broken + " --json " + d.dir() + "/b.json");
  INFO(broken_out);
  CHECK(broken_code == 2);  // could not evaluate, not a regression
  auto b = readJson(d.dir() + "/b.json");
  CHECK(scoreVerdict(b, "yes", "crashes") == "error");
  CHECK(scoreVerdict(b, "yes", "hangs") == "error");
  CHECK(caseStatus(b, "yes") == "error");
  CHECK(std::string(resultCase(b, "yes")["scores"][1]["error"].GetString()).find("within 300 ms") != std::string::npos);
  CHECK(scoreVerdict(b, "yes", "lingers") == "error");
  CHECK(std::string(resultCase(b, "yes")["scores"][2]["error"].GetString()).find("within 300 ms") != std::string::npos);
}

namespace {

// A scorer whose arithmetic gives no number (a plugin's 0/0, the cosine of a zero vector).
class NotANumber : public outrigger::eval::Scorer {
 public:
  using Scorer::Scorer;
  outrigger::eval::Score score(const outrigger::eval::EvalCase&, const outrigger::eval::CaseOutput&) const override {
    return verdict(true, std::nan(""), "0/0");
  }
};

}  // namespace

// RapidJSON writes nothing for NaN and stops: the results JSON ended mid-document, and the next
// run could not read it as its baseline.
TEST_CASE("a score that is not a finite number is the scorer failing to run, not a verdict") {
  outrigger::eval::ScorerConfig cfg;
  cfg.name = "nan";
  NotANumber scorer(cfg);
  outrigger::eval::Score s = scorer.score({}, {});
  CHECK_FALSE(s.pass);
  CHECK(s.score == 0);
  CHECK(s.error.find("not a finite number") != std::string::npos);
}
