// The eval's pure parts without a daemon: dataset lines, the eval file, judge answers and their
// cache, edit distance and markup escaping.
#include <catch2/catch.hpp>

#include "eval/chat_backend.h"
#include "eval/dataset.h"
#include "eval/eval_file.h"
#include "eval/judge.h"
#include "eval/judge_cache.h"
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

TEST_CASE("dataset: a tool conversation keeps its calls, as eval capture writes them or in OpenAI's form") {
  EvalCase c;
  std::string error;
  REQUIRE(parseCase(R"({"messages": [{"role": "user", "content": "where is order 77?"},)"
                    R"( {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "name": "lookup_order", "arguments": "{\"id\":\"77\"}"}]},)"
                    R"( {"role": "assistant", "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "track", "arguments": {"id": "77"}}}]},)"
                    R"( {"role": "tool", "content": "shipped", "name": "lookup_order", "tool_call_id": "call_1"}]})",
                    1, &c, &error));
  REQUIRE(c.messages.size() == 4);
  REQUIRE(c.messages[1].tool_calls.size() == 1);
  CHECK(c.messages[1].tool_calls[0].id == "call_1");
  CHECK(c.messages[1].tool_calls[0].name == "lookup_order");
  CHECK(c.messages[1].tool_calls[0].arguments == R"({"id":"77"})");
  REQUIRE(c.messages[2].tool_calls.size() == 1);
  CHECK(c.messages[2].tool_calls[0].name == "track");
  CHECK(c.messages[2].tool_calls[0].arguments == R"({"id":"77"})");
  CHECK(c.messages[3].tool_call_id == "call_1");
  CHECK(c.messages[3].name == "lookup_order");
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

namespace {

// A judge route that always answers `answer`, counting the calls.
class FixedJudge : public ChatBackend {
 public:
  explicit FixedJudge(std::string answer) : answer_(std::move(answer)) {}
  outrigger::client::Result<outrigger::client::Response> chat(const outrigger::client::ChatRequest&,
                                                              const CaseParams&) override {
    ++calls;
    outrigger::client::Response r;
    r.content = answer_;
    return r;
  }
  int calls = 0;

 private:
  std::string answer_;
};

}  // namespace

TEST_CASE("judge cache: a pass the judge left out follows each run's threshold, a pass it gave is kept") {
  std::string error;
  JudgeCache cache;
  REQUIRE(cache.open(outrigger::testing::makeTempDir() + "/judge.sqlite", &error));
  FixedJudge score_only(R"({"score": 0.6, "reason": "middling"})");
  Judge lenient(&score_only, &cache, "judge", "rubric", 0.5, 1000);
  Judge strict(&score_only, &cache, "judge", "rubric", 0.7, 1000);
  auto first = lenient.grade("question", "answer", &error);
  REQUIRE(first);
  CHECK(first->pass);
  auto cached = strict.grade("question", "answer", &error);  // from the cache, at 0.7
  REQUIRE(cached);
  CHECK_FALSE(cached->pass);
  CHECK(cached->score == Approx(0.6));
  CHECK(cached->reason == "middling");
  CHECK(lenient.grade("question", "answer", &error)->pass);
  CHECK(score_only.calls == 1);
  CHECK(cache.hits == 2);

  FixedJudge says_fail(R"({"score": 0.9, "pass": false})");
  Judge told(&says_fail, &cache, "judge", "rubric", 0.5, 1000);
  CHECK_FALSE(told.grade("question", "another answer", &error)->pass);
  CHECK_FALSE(told.grade("question", "another answer", &error)->pass);  // cached: still the judge's word
  CHECK(says_fail.calls == 1);
}

TEST_CASE("levenshtein and markup escaping") {
  CHECK(levenshtein("kitten", "sitting") == 3);
  CHECK(levenshtein("", "abc") == 3);
  CHECK(levenshtein("same", "same") == 0);
  CHECK(escapeMarkup("<a href=\"x\">&'</a>\x01") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
}
