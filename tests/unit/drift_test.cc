// The drift statistics and the comparison, on populations made here: the population stability
// index against hand-computed values, what each signal calls drifted, stable and insufficient,
// a prompt version with and without its own baseline, and an eval run's results as the baseline.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "traces/drift.h"
#include "traces/drift_output.h"
#include "traces/drift_population.h"
#include "traces/statistics.h"
#include "traces/trace_store.h"

#include "support/daemon_process.h"

using namespace outrigger::traces;

namespace {

DriftSample answer(const std::string& route, double tokens, const std::string& prompt = "") {
  DriftSample x;
  x.route = route;
  x.prompt = prompt;
  x.answer_tokens = tokens;
  x.latency_ms = 500 + tokens;
  return x;
}

const DriftSignal* find(const DriftGroup& g, const std::string& name) {
  for (const DriftSignal& s : g.signals) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("drift: the population stability index is 0 for the same distribution and matches a hand computation") {
  std::vector<double> same;
  for (int i = 0; i < 100; ++i) same.push_back(i);
  CHECK(populationStability(same, same) == Approx(0).margin(1e-12));

  // Two values, half and half, against 90% and 10%: bins (<= 0], (0, 1], (> 1) with a half count
  // added to each: baseline 50.5, 50.5, 0.5 of 101.5; current 90.5, 10.5, 0.5 of 101.5.
  std::vector<double> base(50, 0.0), cur(90, 0.0);
  base.insert(base.end(), 50, 1.0);
  cur.insert(cur.end(), 10, 1.0);
  double b0 = 50.5 / 101.5, b1 = 50.5 / 101.5, c0 = 90.5 / 101.5, c1 = 10.5 / 101.5;
  double hand = (c0 - b0) * std::log(c0 / b0) + (c1 - b1) * std::log(c1 / b1);
  CHECK(populationStability(base, cur) == Approx(hand).epsilon(1e-9));
  CHECK(hand > 0.25);

  // A slight shift stays under 0.1; one that puts 15% of the answers past the baseline's longest
  // is significant.
  std::vector<double> nudged, shifted;
  for (int i = 0; i < 100; ++i) nudged.push_back(i + 2), shifted.push_back(i + 15);
  CHECK(populationStability(same, nudged) < 0.1);
  CHECK(populationStability(same, shifted) > 0.25);
  CHECK(median({3, 1, 2}) == 2);
}

TEST_CASE("drift: longer answers and more refusals drift, an unchanged route is stable, thin windows are insufficient") {
  DriftPopulation base, cur;
  for (int i = 0; i < 100; ++i) {
    base.samples.push_back(answer("a", 10 + i % 5));
    base.samples.push_back(answer("b", 10 + i % 5));
    base.samples.push_back(answer("thin", 10));
    DriftSample longer = answer("a", 60 + i % 5);
    longer.refusal = i % 4 == 0;
    cur.samples.push_back(longer);
    cur.samples.push_back(answer("b", 10 + i % 5));
  }
  for (int i = 0; i < 5; ++i) cur.samples.push_back(answer("thin", 90));
  DriftReport r = compareWindows(base, cur, {}, {});
  REQUIRE(r.groups.size() == 3);
  const DriftGroup& a = r.groups[0];
  REQUIRE(a.route == "a");
  CHECK(a.status == DriftStatus::kDrifted);
  CHECK(find(a, "answer_tokens")->status == DriftStatus::kDrifted);
  CHECK(find(a, "refusal_rate")->status == DriftStatus::kDrifted);
  CHECK(find(a, "refusal_rate")->value == Approx(0.25));
  // Latency moved with the answer length, but by 50 ms: below the 100 ms that makes it drift.
  CHECK(find(a, "latency_ms")->status == DriftStatus::kModerate);
  const DriftGroup& b = r.groups[1];
  CHECK(b.status == DriftStatus::kStable);
  const DriftGroup& thin = r.groups[2];
  CHECK(thin.status == DriftStatus::kInsufficient);
  CHECK(r.drifted());

  DriftThresholds loose;
  loose.min_latency_change_ms = 10;
  CHECK(find(compareWindows(base, cur, loose, {}).groups[0], "latency_ms")->status == DriftStatus::kDrifted);
}

TEST_CASE("drift: a new prompt version is compared with its route, a known one with its own baseline") {
  DriftPopulation base, cur;
  for (int i = 0; i < 40; ++i) {
    base.samples.push_back(answer("r", 10, "p@1"));
    base.samples.push_back(answer("r", 50, "p@0"));
    cur.samples.push_back(answer("r", 10, "p@1"));
    cur.samples.push_back(answer("r", 10, "p@2"));
  }
  DriftReport r = compareWindows(base, cur, {}, {});
  REQUIRE(r.groups.size() == 2);
  CHECK(r.groups[0].prompt == "p@1");
  CHECK(r.groups[0].baseline_scope == "prompt");
  CHECK(r.groups[0].status == DriftStatus::kStable);
  CHECK(r.groups[1].prompt == "p@2");
  CHECK(r.groups[1].baseline_scope == "route");
  CHECK(r.groups[1].baseline_requests == 80);
  CHECK(find(r.groups[1], "answer_tokens")->status == DriftStatus::kDrifted);
}

TEST_CASE("drift: guardrail verdict rates and feedback drift per guardrail and verdict") {
  DriftPopulation base, cur;
  for (int i = 0; i < 100; ++i) {
    DriftSample x = answer("r", 10), y = answer("r", 10);
    x.feedback = 0.9;
    y.feedback = 0.4;
    if (i % 50 == 0) x.verdicts = {"pii/rewrite"};
    if (i % 5 == 0) y.verdicts = {"pii/rewrite", "content/deny"};
    base.samples.push_back(x);
    cur.samples.push_back(y);
  }
  DriftReport r = compareWindows(base, cur, {}, {});
  REQUIRE(r.groups.size() == 1);
  const DriftGroup& g = r.groups[0];
  CHECK(find(g, "verdict:pii/rewrite")->status == DriftStatus::kDrifted);
  CHECK(find(g, "verdict:pii/rewrite")->value == Approx(0.18));
  CHECK(find(g, "verdict:content/deny")->status == DriftStatus::kDrifted);
  CHECK(find(g, "feedback")->status == DriftStatus::kDrifted);
  CHECK(find(g, "feedback")->value == Approx(-0.5));

  std::string metrics = driftPrometheus(r);
  CHECK(metrics.find("outrigger_drift_signal_status{prompt=\"\",route=\"r\",signal=\"verdict:content/deny\"} 2") !=
        std::string::npos);
}

TEST_CASE("drift: the answers' centroid drifts beyond the baseline's own noise, and an embedder error is a note") {
  DriftPopulation base, cur;
  for (int i = 0; i < 40; ++i) {
    DriftSample x = answer("r", 10), y = answer("r", 10);
    x.answer = "words " + std::to_string(i);
    y.answer = "digits " + std::to_string(i);
    base.samples.push_back(x);
    cur.samples.push_back(y);
  }
  // "words" point one way, "digits" another, each with a little spread.
  EmbedTexts embed = [](const std::vector<std::string>& texts, std::string*) {
    std::vector<std::vector<double>> out;
    for (const std::string& t : texts) {
      double spread = double(t.size() % 7) * 0.01;
      out.push_back(t.rfind("words", 0) == 0 ? std::vector<double>{1, spread, 0} : std::vector<double>{spread, 1, 0});
    }
    return std::optional<std::vector<std::vector<double>>>(out);
  };
  DriftReport r = compareWindows(base, cur, {}, embed);
  const DriftSignal* c = find(r.groups[0], "answer_centroid");
  REQUIRE(c);
  CHECK(c->status == DriftStatus::kDrifted);
  CHECK(c->value > 0.9);
  CHECK(c->noise < 0.01);

  // The same answers on both sides: no drift.
  DriftReport same = compareWindows(base, base, {}, embed);
  CHECK(find(same.groups[0], "answer_centroid")->status == DriftStatus::kStable);

  EmbedTexts broken = [](const std::vector<std::string>&, std::string* error) {
    *error = "embeddings route unavailable";
    return std::optional<std::vector<std::vector<double>>>();
  };
  DriftReport failed = compareWindows(base, cur, {}, broken);
  CHECK(find(failed.groups[0], "answer_centroid") == nullptr);
  REQUIRE(failed.notes.size() == 1);
  CHECK(failed.notes[0].find("embeddings route unavailable") != std::string::npos);
}

TEST_CASE("drift: an eval run's results are a baseline, with judge scores and without verdicts or refusals") {
  std::string cases;
  for (int i = 0; i < 40; ++i) {
    if (i) cases += ",";
    cases += R"({"id": "c)" + std::to_string(i) + R"(", "status": "pass", "output": "fine", "latency_ms": 900,
      "completion_tokens": 12, "scores": [{"scorer": "judge", "score": 0.9, "pass": true},
      {"scorer": "exact", "score": 0, "pass": false}]})";
  }
  std::string results = R"({"version": 1, "targets": [{"route": "r", "cases": [)" + cases + "]}]}";
  DriftPopulation base;
  std::string error;
  REQUIRE(loadEvalBaseline(results, "r", &base, &error));
  REQUIRE(base.samples.size() == 40);
  CHECK(base.samples[0].judge == Approx(0.9));
  CHECK(base.samples[0].answer_tokens == 12);
  CHECK_FALSE(base.verdicts_known);
  CHECK_FALSE(loadEvalBaseline(results, "other", &base, &error));
  CHECK(error.find("no cases for route other") != std::string::npos);
  CHECK_FALSE(loadEvalBaseline("{\"cases\": []}", "", &base, &error));

  DriftPopulation cur;
  for (int i = 0; i < 40; ++i) {
    DriftSample x = answer("r", 12);
    x.verdicts = {"pii/rewrite"};
    x.judge = 0.5;
    cur.samples.push_back(x);
  }
  DriftPopulation eval_base;
  REQUIRE(loadEvalBaseline(results, "", &eval_base, &error));
  DriftReport r = compareWindows(eval_base, cur, {}, {});
  REQUIRE(r.groups.size() == 1);
  CHECK(find(r.groups[0], "refusal_rate") == nullptr);
  CHECK(find(r.groups[0], "verdict:pii/rewrite") == nullptr);
  CHECK(find(r.groups[0], "judge_score")->status == DriftStatus::kDrifted);
  CHECK(find(r.groups[0], "judge_score")->value == Approx(-0.4));
}

TEST_CASE("drift: a window larger than the cap is read evenly, one request in k") {
  std::string path = outrigger::testing::makeTempDir() + "/traces.db";
  std::string error;
  Database db = openStoreForWriting(path, &error);
  REQUIRE(db);
  REQUIRE(sqlite3_exec(db.get(),
                       "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
                       " INSERT INTO requests (trace_id, trace_key, start_unix_ns, duration_us, route, status, output_tokens)"
                       " SELECT printf('%032x', i), i, i, 1000, 'r', 'OK', i FROM n",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  TraceFilter all;
  all.route = "r";
  DriftPopulation whole, sampled;
  REQUIRE(loadDriftWindow(db.get(), all, {}, false, &whole, &error));
  CHECK(whole.samples.size() == 1000);
  CHECK(whole.sampled_one_in == 1);
  REQUIRE(loadDriftWindow(db.get(), all, {}, false, &sampled, &error, 300));
  CHECK(sampled.sampled_one_in == 4);
  CHECK(sampled.samples.size() == 250);
  CHECK(sampled.samples.front().answer_tokens == 4);
  CHECK(sampled.samples.back().answer_tokens == 1000);
}

TEST_CASE("drift: the gauges keep the busiest 100 groups, cut caller-named prompt labels, and count the rest") {
  DriftReport r;
  for (int i = 0; i < 150; ++i) {
    DriftGroup g;
    g.route = "r";
    g.prompt = "p@" + std::to_string(i) + std::string(i == 149 ? 500 : 0, 'v');
    g.current_requests = uint64_t(i);
    r.groups.push_back(g);
  }
  std::string metrics = driftPrometheus(r);
  size_t series = 0;
  for (size_t at = 0; (at = metrics.find("\noutrigger_drift_status{", at)) != std::string::npos; ++at) ++series;
  CHECK(series == 100);
  CHECK(metrics.find("\noutrigger_drift_groups_omitted 50\n") != std::string::npos);
  CHECK(metrics.find("prompt=\"p@149" + std::string(123, 'v') + "\"") != std::string::npos);  // 128 bytes
  CHECK(metrics.find("prompt=\"p@49\"") == std::string::npos);  // among the quietest, left out
  CHECK(metrics.find("prompt=\"p@50\"") != std::string::npos);
}
