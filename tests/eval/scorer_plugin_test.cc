// Scorer plugins through the scorer C ABI (outrigger/scorer_plugin.h): the word-overlap example
// loaded by `outrigger eval run` and scoring answers of the real daemon, and the loader's
// refusals (no entry symbol, another ABI major, a short table, a missing file, a config the
// plugin refuses).
#include <catch2/catch.hpp>

#include "eval_fixture.h"

using namespace outrigger::testing;

namespace {

std::string pluginScorer(const std::string& library, const std::string& extra = "config = {lowercase = true}\n") {
  return "[[scorers]]\ntype = \"plugin\"\nname = \"overlap\"\npath = \"" + std::string(SCORER_PLUGIN_DIR) + "/" + library +
         ".so\"\nthreshold = 0.5\n" + extra;
}

}  // namespace

TEST_CASE("scorer plugin: the word-overlap plugin scores the daemon's answers by F1 against the expected text") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(d.waitReady());
  writeText(d.dir() + "/cases.jsonl",
            "{\"id\": \"same\", \"prompt\": \"the cat sat on the mat\", \"expected\": \"the cat sat on the mat\"}\n"
            "{\"id\": \"upper\", \"prompt\": \"THE CAT SAT\", \"expected\": \"the cat sat\"}\n"
            "{\"id\": \"partial\", \"prompt\": \"the cat\", \"expected\": \"the cat sat on the mat today\"}\n");
  std::string eval = writeEvalFile(d, "overlap", "cases.jsonl", pluginScorer("scorer_word_overlap"));
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 100);  // one case below the threshold, min_pass_rate 1.0
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(scoreVerdict(doc, "same", "overlap") == "pass");
  CHECK(scoreVerdict(doc, "upper", "overlap") == "pass");  // lowercase = true
  CHECK(scoreVerdict(doc, "partial", "overlap") == "fail");
  const auto& partial = resultCase(doc, "partial")["scores"][0];
  CHECK(partial["score"].GetDouble() == Approx(2 * 1.0 * (2.0 / 7) / (1.0 + 2.0 / 7)));
  CHECK(std::string(partial["reason"].GetString()) == "word overlap F1 0.44 (threshold 0.50)");

  std::string strict = writeEvalFile(d, "strict", "cases.jsonl", pluginScorer("scorer_word_overlap", "config = '{\"lowercase\": false}'\n"));
  auto [strict_code, strict_out] = outriggerEval(d, "run " + strict + " --json " + d.dir() + "/s.json");
  INFO(strict_out);
  CHECK(scoreVerdict(readJson(d.dir() + "/s.json"), "upper", "overlap") == "fail");  // the config string reached the plugin
}

TEST_CASE("scorer plugin: a plugin that cannot score a case makes it a runtime error, not a failure") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(d.waitReady());
  writeText(d.dir() + "/cases.jsonl", "{\"id\": \"no-reference\", \"prompt\": \"hello\"}\n");
  std::string eval = writeEvalFile(d, "overlap", "cases.jsonl", pluginScorer("scorer_word_overlap"));
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json --junit " + d.dir() + "/r.xml");
  INFO(out);
  CHECK(code == 2);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(caseStatus(doc, "no-reference") == "error");
  CHECK(scoreVerdict(doc, "no-reference", "overlap") == "error");
  CHECK(std::string(resultCase(doc, "no-reference")["scores"][0]["error"].GetString()) ==
        "plugin scorer.word_overlap could not score: the case has no expected text to compare the answer with");
  CHECK(readText(d.dir() + "/r.xml").find("<error") != std::string::npos);
}

TEST_CASE("scorer plugin: a library without the entry symbol, for another ABI major, with a short table, missing, or refusing its config stops the run with exit 2") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(d.waitReady());
  writeText(d.dir() + "/cases.jsonl", "{\"id\": \"a\", \"prompt\": \"x\", \"expected\": \"x\"}\n");
  auto refusal = [&](const std::string& name, const std::string& scorer) {
    auto [code, out] = outriggerEval(d, "run " + writeEvalFile(d, name, "cases.jsonl", scorer));
    CHECK(code == 2);
    return out;
  };
  CHECK(refusal("no_entry", pluginScorer("scorer_no_entry")).find("does not export outrigger_scorer_entry_v1: it is not a scorer plugin") != std::string::npos);
  CHECK(refusal("abi_2", pluginScorer("scorer_abi_2")).find("is built for scorer ABI 2.0; this outrigger speaks 1.0") != std::string::npos);
  CHECK(refusal("short_table", pluginScorer("scorer_short_table")).find("its scorer table is 16 bytes, less than the") != std::string::npos);
  CHECK(refusal("missing", pluginScorer("scorer_missing")).find("cannot load ") != std::string::npos);
  CHECK(refusal("bad_config", pluginScorer("scorer_word_overlap", "config = {lowercase = \"yes\"}\n"))
            .find("plugin scorer.word_overlap refused its config: config must be a table like {lowercase = true}") != std::string::npos);
}
