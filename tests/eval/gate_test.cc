// The regression gate: exit 0 on a pass, 100 on a drop significant at 95% (exact McNemar over the
// cases that changed) against a baseline, 2 when the run could not evaluate; per-case diffs and
// per-tag rates.
#include <catch2/catch.hpp>

#include "eval/bootstrap.h"
#include "eval_fixture.h"

using namespace outrigger::testing;

namespace {

// 20 cases c0..c19 whose expected answer is what the echoing mock answers, except for the
// first `broken` cases; even cases are tagged "short", odd ones "long".
std::string dataset(int broken, const std::string& extra_line = "") {
  std::string text;
  for (int i = 0; i < 20; ++i) {
    std::string id = "c" + std::to_string(i);
    text += "{\"id\": \"" + id + "\", \"prompt\": \"answer " + id + "\", \"expected\": \"" +
            (i < broken ? "something else" : "answer " + id) + "\", \"tags\": [\"" + (i % 2 ? "long" : "short") + "\"]}\n";
  }
  return text + extra_line;
}

const char* kExact = "[[scorers]]\ntype = \"exact\"\n";

}  // namespace

TEST_CASE("gate: exit 0 when every case passes, 100 below min_pass_rate without a baseline") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/good.jsonl", dataset(0));
  writeText(d.dir() + "/one_bad.jsonl", dataset(1));
  auto good = outriggerEval(d, "run " + writeEvalFile(d, "good", "good.jsonl", kExact));
  INFO(good.second);
  CHECK(good.first == 0);
  CHECK(good.second.find("verdict: pass (exit 0)") != std::string::npos);
  auto bad = outriggerEval(d, "run " + writeEvalFile(d, "bad", "one_bad.jsonl", kExact));
  INFO(bad.second);
  CHECK(bad.first == 100);
  CHECK(bad.second.find("pass rate 95.0% is below min_pass_rate 100.0%") != std::string::npos);
  auto tolerant = outriggerEval(d, "run " + writeEvalFile(d, "tolerant", "one_bad.jsonl", kExact, "min_pass_rate = 0.9\n"));
  CHECK(tolerant.first == 0);
}

TEST_CASE("gate: a significant drop against the baseline exits 100 with per-case diffs and per-tag rates") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/base.jsonl", dataset(0));
  writeText(d.dir() + "/worse.jsonl", dataset(12));
  auto base = outriggerEval(d, "run " + writeEvalFile(d, "base", "base.jsonl", kExact) + " --json " + d.dir() + "/base.json");
  REQUIRE(base.first == 0);
  auto [code, out] = outriggerEval(d, "run " + writeEvalFile(d, "worse", "worse.jsonl", kExact) + " --baseline " + d.dir() +
                                          "/base.json --json " + d.dir() + "/worse.json");
  INFO(out);
  CHECK(code == 100);
  CHECK(out.find("significant regression: -60.0 pp vs baseline") != std::string::npos);
  auto doc = readJson(d.dir() + "/worse.json");
  const auto& gate = doc["targets"][0]["gate"];
  CHECK(gate["regression"].GetBool());
  CHECK(gate["ci_high"].GetDouble() < 0);
  CHECK(gate["changes"].Size() == 12);
  CHECK(std::string(gate["changes"][0]["before"].GetString()) == "pass");
  CHECK(std::string(gate["changes"][0]["after"].GetString()) == "fail");
  // c0..c11 broke: 6 short and 6 long of 10 each.
  const auto& tags = doc["targets"][0]["tags"];
  CHECK(tags["short"]["pass_rate"].GetDouble() == Approx(0.4));
  CHECK(tags["short"]["baseline_pass_rate"].GetDouble() == Approx(1.0));
  CHECK(tags["long"]["passed"].GetUint() == 4);
  CHECK(std::string(doc["verdict"].GetString()) == "regression");
}

TEST_CASE("gate: cases added or removed since the baseline are listed and left out of the pairing") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/base.jsonl", dataset(0) + "{\"id\": \"gone\", \"prompt\": \"g\", \"expected\": \"g\"}\n");
  writeText(d.dir() + "/now.jsonl", dataset(0) + "{\"id\": \"fresh\", \"prompt\": \"f\", \"expected\": \"nope\"}\n");
  REQUIRE(outriggerEval(d, "run " + writeEvalFile(d, "base", "base.jsonl", kExact) + " --json " + d.dir() + "/base.json").first == 0);
  auto [code, out] = outriggerEval(d, "run " + writeEvalFile(d, "now", "now.jsonl", kExact) + " --baseline " + d.dir() +
                                          "/base.json --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 0);  // the new case fails, but it has nothing to be compared with
  auto doc = readJson(d.dir() + "/r.json");
  const auto& gate = doc["targets"][0]["gate"];
  CHECK(gate["paired_cases"].GetUint() == 20);
  REQUIRE(gate["changes"].Size() == 2);
  CHECK(std::string(gate["changes"][0]["id"].GetString()) == "fresh");
  CHECK(std::string(gate["changes"][0]["before"].GetString()) == "new");
  CHECK(std::string(gate["changes"][1]["id"].GetString()) == "gone");
  CHECK(std::string(gate["changes"][1]["after"].GetString()) == "removed");
}

TEST_CASE("gate: a drop of one case in twenty is not significant and exits 0, saying so") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/base.jsonl", dataset(0));
  writeText(d.dir() + "/slightly.jsonl", dataset(1));
  REQUIRE(outriggerEval(d, "run " + writeEvalFile(d, "base", "base.jsonl", kExact) + " --json " + d.dir() + "/base.json").first == 0);
  auto [code, out] = outriggerEval(d, "run " + writeEvalFile(d, "slightly", "slightly.jsonl", kExact) + " --baseline " +
                                          d.dir() + "/base.json --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 0);
  CHECK(out.find("no significant change: -5.0 pp vs baseline") != std::string::npos);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(doc["targets"][0]["gate"]["changes"].Size() == 1);
  CHECK(doc["targets"][0]["gate"]["ci_low"].GetDouble() < 0);
  CHECK(doc["targets"][0]["gate"]["paired_cases"].GetUint() == 20);
  CHECK(doc["targets"][0]["gate"]["ci_high"].GetDouble() >= 0);
}

// Three ways the gate passed what it should not: a baseline none of whose cases pair with the
// run's (other ids, or all errors) passed a run of 0%; two targets of one name were compared with
// one baseline; and a case no scorer applies to (its tags match none) passed unexamined.
TEST_CASE("gate: no case paired with the baseline falls back to min_pass_rate") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/base.jsonl", dataset(0));
  std::string renamed;
  for (int i = 0; i < 5; ++i) {
    renamed += "{\"id\": \"x" + std::to_string(i) + "\", \"prompt\": \"p\", \"expected\": \"something else\"}\n";
  }
  writeText(d.dir() + "/renamed.jsonl", renamed);
  REQUIRE(outriggerEval(d, "run " + writeEvalFile(d, "base", "base.jsonl", kExact) + " --json " + d.dir() + "/base.json").first == 0);
  auto [code, out] = outriggerEval(d, "run " + writeEvalFile(d, "renamed", "renamed.jsonl", kExact) + " --baseline " +
                                          d.dir() + "/base.json");
  INFO(out);
  CHECK(code == 100);
  CHECK(out.find("no case pairs with the baseline's") != std::string::npos);
  CHECK(out.find("pass rate 0.0% is below min_pass_rate 100.0%") != std::string::npos);
}

TEST_CASE("gate: two targets of one name are refused, a case no scorer applies to is an error") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/good.jsonl", dataset(0));
  std::string twice = writeEvalFile(d, "twice", "good.jsonl", std::string("[[targets]]\nroute = \"default\"\n") + kExact);
  // writeEvalFile names its target "mock"; one more on the same route is named "default": rename it "mock".
  std::string text = readText(twice);
  text.replace(text.find("[[targets]]\nroute"), std::string("[[targets]]\nroute").size(), "[[targets]]\nname = \"mock\"\nroute");
  writeText(twice, text);
  auto [dup_code, dup_out] = outriggerEval(d, "run " + twice);
  INFO(dup_out);
  CHECK(dup_code == 2);
  CHECK(dup_out.find("two [[targets]] are named 'mock'") != std::string::npos);

  auto [code, out] = outriggerEval(d, "run " + writeEvalFile(d, "untagged", "good.jsonl",
                                                           "[[scorers]]\ntype = \"exact\"\ntags = [\"nowhere\"]\n") +
                                          " --json " + d.dir() + "/untagged.json");
  INFO(out);
  CHECK(code == 2);
  CHECK(readText(d.dir() + "/untagged.json").find("no scorer applies to this case") != std::string::npos);
}

TEST_CASE("gate: exit 2 when a case cannot be evaluated, the sidecar is unreachable or the eval file is bad") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  // The rules guardrail denies this prompt: no answer, so the case could not be evaluated.
  writeText(d.dir() + "/denied.jsonl", dataset(0, "{\"id\": \"denied\", \"prompt\": \"a forbidden phrase\", \"expected\": \"x\"}\n"));
  std::string eval = writeEvalFile(d, "denied", "denied.jsonl", kExact);
  auto [code, out] = outriggerEval(d, "run " + eval + " --json " + d.dir() + "/r.json");
  INFO(out);
  CHECK(code == 2);
  CHECK(out.find("verdict: inconclusive (exit 2)") != std::string::npos);
  auto doc = readJson(d.dir() + "/r.json");
  CHECK(caseStatus(doc, "denied") == "error");
  CHECK(std::string(resultCase(doc, "denied")["error"].GetString()).find("PERMISSION_DENIED") != std::string::npos);
  // The error's code, and the trace id that finds the request in the trace store.
  CHECK(std::string(resultCase(doc, "denied")["error_code"].GetString()) == "PERMISSION_DENIED");
  CHECK(std::string(resultCase(doc, "denied")["trace_id"].GetString()).size() == 32);

  auto unreachable = runCommand(std::string(OUTRIGGER_BIN) + " eval run " + eval + " --socket " + d.dir() + "/nobody.sock");
  CHECK(unreachable.first == 2);
  CHECK(unreachable.second.find("cannot reach the sidecar") != std::string::npos);

  writeText(d.dir() + "/typo.toml", "dataset = \"denied.jsonl\"\nconcurency = 2\n[[targets]]\nroute = \"default\"\n");
  auto bad = outriggerEval(d, "run " + d.dir() + "/typo.toml");
  CHECK(bad.first == 2);
  CHECK(bad.second.find("typo.toml:2: unknown key 'concurency'") != std::string::npos);
}

TEST_CASE("gate: retryable failures are retried as configured before a case counts as an error") {
  // Every second request fails with a retryable UNAVAILABLE: one retry answers every case.
  DaemonProcess d(basicConfig("mode = \"echo\"\nfail_every = 2\nfail_retryable = true"));
  REQUIRE(d.waitReady());
  writeText(d.dir() + "/cases.jsonl", dataset(0));
  auto with_retry = outriggerEval(d, "run " + writeEvalFile(d, "retry", "cases.jsonl", kExact, "retries = 2\nretry_backoff_ms = 5\n") +
                                          " -j 1 --json " + d.dir() + "/r.json");
  INFO(with_retry.second);
  CHECK(with_retry.first == 0);
  auto doc = readJson(d.dir() + "/r.json");
  uint32_t retried = 0;
  for (const auto& c : doc["targets"][0]["cases"].GetArray()) retried += c["attempts"].GetUint() > 1;
  CHECK(retried > 0);
  auto without = outriggerEval(d, "run " + writeEvalFile(d, "noretry", "cases.jsonl", kExact, "retries = 0\n") + " -j 1");
  CHECK(without.first == 2);
}

// The gate read a bootstrap interval, which is below 0 as soon as four cases all went one way,
// in a dataset of any size: noise failed CI with exit 100.
TEST_CASE("gate: four cases that all went from pass to fail are not a significant drop, six are") {
  DaemonProcess d(evalDaemonConfig());
  REQUIRE(evalDaemonReady(d));
  writeText(d.dir() + "/base.jsonl", dataset(0));
  writeText(d.dir() + "/four.jsonl", dataset(4));
  writeText(d.dir() + "/six.jsonl", dataset(6));
  REQUIRE(outriggerEval(d, "run " + writeEvalFile(d, "base", "base.jsonl", kExact) + " --json " + d.dir() + "/base.json").first == 0);
  auto four = outriggerEval(d, "run " + writeEvalFile(d, "four", "four.jsonl", kExact) + " --baseline " + d.dir() +
                                   "/base.json --json " + d.dir() + "/four.json");
  INFO(four.second);
  CHECK(four.first == 0);
  CHECK(four.second.find("no significant change: -20.0 pp vs baseline") != std::string::npos);
  CHECK(readJson(d.dir() + "/four.json")["targets"][0]["gate"]["p_value"].GetDouble() == Approx(0.125));
  auto six = outriggerEval(d, "run " + writeEvalFile(d, "six", "six.jsonl", kExact) + " --baseline " + d.dir() + "/base.json");
  INFO(six.second);
  CHECK(six.first == 100);
  CHECK(six.second.find("McNemar p = 0.031") != std::string::npos);
}

TEST_CASE("McNemar: the exact two-sided p-value of the changed cases' split") {
  using outrigger::eval::mcnemarExactP;
  CHECK(mcnemarExactP(0, 0) == 1);
  CHECK(mcnemarExactP(1, 0) == 1);
  CHECK(mcnemarExactP(4, 0) == Approx(0.125));
  CHECK(mcnemarExactP(0, 4) == Approx(0.125));
  CHECK(mcnemarExactP(6, 0) == Approx(0.03125));
  CHECK(mcnemarExactP(10, 2) == Approx(2 * (1 + 12 + 66) / 4096.0));
  CHECK(mcnemarExactP(5, 5) == 1);
  CHECK(mcnemarExactP(60000, 59000) < 0.05);  // large counts stay finite
  CHECK(mcnemarExactP(60000, 59900) > 0.05);
}

TEST_CASE("bootstrap: the interval is reproducible and brackets the observed difference") {
  std::vector<uint8_t> before(40, 1), after(40, 1);
  for (int i = 0; i < 12; ++i) after[i] = 0;
  auto drop = outrigger::eval::pairedBootstrap(before, after);
  CHECK(drop.delta == Approx(-0.3));
  CHECK(drop.high < 0);
  CHECK(drop.low <= drop.delta);
  auto again = outrigger::eval::pairedBootstrap(before, after);
  CHECK(again.low == drop.low);
  CHECK(again.high == drop.high);
  auto same = outrigger::eval::pairedBootstrap(before, before);
  CHECK(same.low == 0);
  CHECK(same.high == 0);
}
