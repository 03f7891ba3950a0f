// The LLM judge through real judge routes: its verdicts, its cache (a second run makes no judge
// call, counted on the daemon's own metrics), and calibration against human labels deciding
// whether it may gate.
#include <catch2/catch.hpp>

#include "eval_fixture.h"

using namespace outrigger::testing;

namespace {

const char* kCases = "{\"id\": \"a\", \"prompt\": \"Please reset my password\"}\n"
                     "{\"id\": \"b\", \"prompt\": \"Where is my order?\"}\n"
                     "{\"id\": \"c\", \"prompt\": \"Cancel my subscription\"}\n";

std::string judgeScorer(const std::string& name, const std::string& route, const std::string& extra = "") {
  return "[[scorers]]\ntype = \"judge\"\nname = \"" + name + "\"\nroute = \"" + route +
         "\"\nrubric = \"The answer is polite and addresses the request.\"\n" + extra;
}

// Judge requests the daemon served on `route`, from its request-duration histogram.
double judgeRequests(const DaemonProcess& d, const std::string& route) {
  return metricSum(d, "outrigger_request_duration_seconds_count{route=\"" + route + "\"");
}

// Four labelled items: the first two labelled pass, the others fail (or all `label`).
void writeLabels(const std::string& path, const char* first_two, const char* last_two) {
  std::string text;
  for (int i = 0; i < 4; ++i) {
    text += "{\"id\": \"item-" + std::to_string(i) + "\", \"input\": \"question " + std::to_string(i) +
            "\", \"output\": \"answer " + std::to_string(i) + "\", \"pass\": " + (i < 2 ? first_two : last_two) + "}\n";
  }
  writeText(path, text);
}

}  // namespace

TEST_CASE("the judge's score, reason and pass come from the judge route, for a passing and a failing judge") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", kCases);
  std::string eval = writeEvalFile(d, "judged", "cases.jsonl", judgeScorer("kind", "judge_yes") + judgeScorer("harsh", "judge_no"));
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(scoreVerdict(doc, "a", "kind") == "pass");
  CHECK(scoreVerdict(doc, "a", "harsh") == "fail");
  const auto& kind = resultCase(doc, "a")["scores"][0];
  CHECK(kind["score"].GetDouble() == Approx(0.9));
  CHECK(std::string(kind["reason"].GetString()) == "on topic and polite");
  CHECK(std::string(resultCase(doc, "a")["scores"][1]["reason"].GetString()) == "off topic");
  // Uncalibrated judges are reported but cannot gate, and the run says so.
  CHECK(code == 0);
  CHECK(caseStatus(doc, "a") == "pass");
  CHECK(out.find("judge 'harsh' cannot gate: it has no labelled set") != std::string::npos);
}

TEST_CASE("judge answers are cached by rubric, case and output: a second run makes zero judge calls") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", kCases);
  std::string eval = writeEvalFile(d, "cached", "cases.jsonl", judgeScorer("kind", "judge_yes"));
  auto first = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/1.json");
  INFO(first.second);
  REQUIRE(first.first == 0);
  CHECK(readJson(d.dir() + "/1.json")["judge"]["calls"].GetUint() == 3);
  double served = judgeRequests(d, "judge_yes");
  CHECK(served == 3);

  auto second = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/2.json");
  INFO(second.second);
  REQUIRE(second.first == 0);
  auto doc = readJson(d.dir() + "/2.json");
  CHECK(doc["judge"]["calls"].GetUint() == 0);
  CHECK(doc["judge"]["cache_hits"].GetUint() == 3);
  CHECK(judgeRequests(d, "judge_yes") == served);  // the daemon saw no new judge request
  CHECK(scoreVerdict(doc, "b", "kind") == "pass");

  // A changed rubric is a different key: the judge is asked again.
  writeEvalFile(d, "cached", "cases.jsonl",
                "[[scorers]]\ntype = \"judge\"\nname = \"kind\"\nroute = \"judge_yes\"\nrubric = \"Is it short?\"\n");
  auto third = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/3.json");
  CHECK(readJson(d.dir() + "/3.json")["judge"]["calls"].GetUint() == 3);
  CHECK(judgeRequests(d, "judge_yes") == served + 3);
}

TEST_CASE("calibrate: a judge that disagrees with the human labels cannot gate CI, and the run says why") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", kCases);
  writeLabels(d.dir() + "/mixed.jsonl", "true", "false");  // judge_yes agrees on 2 of 4
  std::string eval = writeEvalFile(d, "calibrated", "cases.jsonl",
                                   judgeScorer("kind", "judge_yes", "labels = \"mixed.jsonl\"\nmin_agreement = 0.9\n"));
  auto [code, out] = outriggerEval(d, "calibrate " + eval);
  INFO(out);
  CHECK(code == 100);
  CHECK(out.find("judge kind: agreement 50.0% (2/4, min_agreement 90.0%): cannot gate CI") != std::string::npos);
  CHECK(out.find("disagrees with the label on item-2") != std::string::npos);

  auto [run_code, run_out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(run_out);
  CHECK(run_code == 0);
  CHECK(run_out.find("judge 'kind' cannot gate: 50.0% agreement with human labels on 4 items") != std::string::npos);
  CHECK_FALSE(resultCase(readJson(d.dir() + "/r.json"), "a")["scores"][0]["gating"].GetBool());
}

TEST_CASE("calibrate: a judge that agrees with the labels gates, and its failures fail the run with exit 100") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/cases.jsonl", kCases);
  writeLabels(d.dir() + "/all_fail.jsonl", "false", "false");  // judge_no agrees on all 4
  std::string eval = writeEvalFile(d, "strict", "cases.jsonl",
                                   judgeScorer("harsh", "judge_no", "labels = \"all_fail.jsonl\"\nmin_agreement = 0.9\n"));
  auto [code, out] = outriggerEval(d, "calibrate " + eval);
  INFO(out);
  CHECK(code == 0);
  CHECK(out.find("judge harsh: agreement 100.0% (4/4, min_agreement 90.0%): may gate") != std::string::npos);

  auto [run_code, run_out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(run_out);
  CHECK(run_code == 100);
  CHECK(run_out.find("judge 'harsh' gates: 100.0% agreement") != std::string::npos);
  CHECK(caseStatus(readJson(d.dir() + "/r.json"), "a") == "fail");
  // Calibration answers were cached: the run judged only the 3 cases.
  CHECK(readJson(d.dir() + "/r.json")["judge"]["calls"].GetUint() == 3);
}
