// The eval's pure parts without a daemon: dataset lines, the eval file, judge answers, edit
// distance and markup escaping.
#include <catch2/catch.hpp>

#include "eval/dataset.h"
#include "eval/eval_file.h"
#include "eval/judge.h"
#include "eval/reports.h"
#include "eval/scorer.h"
#include "eval_fixture.h"

using namespace outrigger::eval;

TEST_CASE("dataset: a prompt template takes its vars, and a var the prompt names but vars lacks is refused") {
  EvalCase c;
  std::string error;
  REQUIRE(parseCase(R"({"prompt": "Hi {{ name }}, about {{n}}", "vars": {"name": "Ada", "n": 3}, "system": "Be brief"})", 7, &c, &error));
  CHECK(c.id == "line-7");
  REQUIRE(c.messages.size() == 2);
  CHECK(c.messages[0].role == "system");
  CHECK(c.messages[1].content == "Hi Ada, about 3");
  EvalCase bad;
  CHECK_FALSE(parseCase(R"({"prompt": "Hi {{who}}", "vars": {}})", 1, &bad, &error));
  CHECK(error == "the prompt uses {{who}} but vars has no 'who'");
}

TEST_CASE("dataset: unknown keys, a case with both messages and prompt, and duplicate ids name the line") {
  EvalCase c;
  std::string error;
  CHECK_FALSE(parseCase(R"({"promt": "typo"})", 1, &c, &error));
  CHECK(error == "unknown key 'promt'");
  CHECK_FALSE(parseCase(R"({"prompt": "a", "messages": [{"role": "user", "content": "b"}]})", 1, &c, &error));
  CHECK(error == "a case needs either messages or prompt");
  std::string dir = outrigger::testing::makeTempDir();
  outrigger::testing::writeText(dir + "/d.jsonl", "{\"id\": \"a\", \"prompt\": \"x\"}\n\n# a comment\n{\"id\": \"a\", \"prompt\": \"y\"}\n");
  std::vector<EvalCase> cases;
  CHECK_FALSE(readDataset(dir + "/d.jsonl", &cases, &error));
  CHECK(error == dir + "/d.jsonl:4: the id 'a' is used twice");
}

TEST_CASE("eval file: defaults, relative paths from the file's directory, and an unknown scorer key named with its line") {
  std::string dir = outrigger::testing::makeTempDir();
  outrigger::testing::writeText(dir + "/e.toml", "dataset = \"d.jsonl\"\n[[targets]]\nroute = \"r\"\n[[scorers]]\ntype = \"exact\"\n");
  EvalConfig cfg;
  std::string error;
  REQUIRE(readEvalFile(dir + "/e.toml", &cfg, &error));
  CHECK(cfg.concurrency == 4);
  CHECK(cfg.targets[0].name == "r");
  CHECK(resolvePath(cfg, cfg.dataset) == dir + "/d.jsonl");
  CHECK(cfg.judge_cache == dir + "/.outrigger-judge-cache.sqlite");
  outrigger::testing::writeText(dir + "/bad.toml", "dataset = \"d.jsonl\"\n[[targets]]\nroute = \"r\"\n[[scorers]]\ntype = \"regex\"\npatern = \"x\"\n");
  EvalConfig bad;
  CHECK_FALSE(readEvalFile(dir + "/bad.toml", &bad, &error));
  CHECK(error == dir + "/bad.toml:6: unknown key 'patern' in [[scorers]]");
  outrigger::testing::writeText(dir + "/typed.toml", "dataset = \"d.jsonl\"\nconcurrency = \"4\"\n");
  EvalConfig typed;
  CHECK_FALSE(readEvalFile(dir + "/typed.toml", &typed, &error));
  CHECK(error == dir + "/typed.toml:2: 'concurrency' must be an integer");
  outrigger::testing::writeText(dir + "/range.toml", "dataset = \"d.jsonl\"\nretries = 50\n");
  EvalConfig range;
  CHECK_FALSE(readEvalFile(dir + "/range.toml", &range, &error));
  CHECK(error == dir + "/range.toml:2: 'retries' must be 0..10");
}

TEST_CASE("scorers: a bad regex, a schema that is not JSON and an unknown type are refused before the run") {
  ScorerServices none;
  std::string error;
  ScorerConfig regex;
  regex.type = regex.name = "regex";
  regex.pattern = "(unclosed";
  CHECK(makeScorer(regex, none, &error) == nullptr);
  CHECK(error.find("missing )") != std::string::npos);
  ScorerConfig schema;
  schema.type = schema.name = "json_schema";
  schema.schema_json = "{not json";
  error.clear();
  CHECK(makeScorer(schema, none, &error) == nullptr);
  CHECK(error.find("the schema is not JSON") != std::string::npos);
  ScorerConfig unknown;
  unknown.type = unknown.name = "bleu";
  error.clear();
  CHECK(makeScorer(unknown, none, &error) == nullptr);
  CHECK(error == "unknown scorer type 'bleu'");
}

TEST_CASE("judge answers: the first JSON object is read, pass falls back to the threshold, prose alone is refused") {
  std::string error;
  auto a = Judge::parseAnswer("Sure. {\"score\": 0.7, \"reason\": \"fine\"} Thanks", 0.5, &error);
  REQUIRE(a);
  CHECK(a->pass);
  CHECK(a->reason == "fine");
  auto b = Judge::parseAnswer("{\"score\": 0.7, \"pass\": false}", 0.5, &error);
  REQUIRE(b);
  CHECK_FALSE(b->pass);
  CHECK_FALSE(Judge::parseAnswer("It looks good to me.", 0.5, &error));
  CHECK(error.find("did not answer {score, reason, pass}") != std::string::npos);
}

TEST_CASE("levenshtein and markup escaping") {
  CHECK(levenshtein("kitten", "sitting") == 3);
  CHECK(levenshtein("", "abc") == 3);
  CHECK(levenshtein("same", "same") == 0);
  CHECK(escapeMarkup("<a href=\"x\">&'</a>\x01") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
}
