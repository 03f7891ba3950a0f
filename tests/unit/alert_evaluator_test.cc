// The alert evaluator over synthetic figures and a synthetic clock: windows, pending before
// firing, one notification per transition, repeats, and each rule kind's value.
#include <catch2/catch.hpp>

#include "alerts/alert_evaluator.h"
#include "alerts/webhook_payload.h"
#include "telemetry/request_meter.h"

#include <rapidjson/document.h>

using namespace outrigger;
using alerts::AlertInputs;
using alerts::Notification;

namespace {

config::AlertRuleSettings rule(const std::string& name, const std::string& kind, double threshold) {
  config::AlertRuleSettings r;
  r.name = name;
  r.kind = kind;
  r.threshold = threshold;
  if (kind == "cost") r.by = "tenant";
  return r;
}

alerts::AlertEvaluator evaluator(std::vector<config::AlertRuleSettings> rules, uint32_t repeat_s = 0) {
  return alerts::AlertEvaluator(std::move(rules), repeat_s, telemetry::kDurationBuckets);
}

AlertInputs costs(double acme, double globex) {
  AlertInputs in;
  in.cost[{"default", "acme", "m"}] = acme;
  in.cost[{"other", "acme", "m"}] = 0;
  in.cost[{"default", "globex", "m"}] = globex;
  return in;
}

}  // namespace

TEST_CASE("alerts: a cost rule compares the window's increase, notifies once, and resolves once") {
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 60;
  auto e = evaluator({r});
  CHECK(e.evaluate(costs(0.5, 0.2), 0).empty());
  std::vector<Notification> fired = e.evaluate(costs(1.6, 0.4), 10'000);  // acme: +1.6 since the start
  REQUIRE(fired.size() == 1);
  CHECK_FALSE(fired[0].resolved);
  CHECK(fired[0].labels == alerts::Labels{{"alertname", "tenant_cost"}, {"severity", "warning"}, {"tenant", "acme"}});
  CHECK(fired[0].value == Approx(1.6));
  CHECK(fired[0].starts_ms == 10'000);
  CHECK(e.evaluate(costs(1.7, 0.4), 20'000).empty());  // still firing: no second notification
  REQUIRE(e.active().size() == 1);
  CHECK(e.active()[0].firing);
  // At 75 s the window starts after the 10 s snapshot: acme spent 0.1 since, below the threshold.
  std::vector<Notification> resolved = e.evaluate(costs(1.7, 0.4), 75'000);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].resolved);
  CHECK(resolved[0].ends_ms == 75'000);
  CHECK(resolved[0].fingerprint == fired[0].fingerprint);
  CHECK(e.evaluate(costs(1.7, 0.4), 80'000).empty());
  CHECK(e.active().empty());
}

TEST_CASE("alerts: for_s keeps an alert pending, and a pending alert that ends sends nothing") {
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 3600;
  r.for_s = 30;
  auto e = evaluator({r});
  CHECK(e.evaluate(costs(2, 0), 0).empty());
  REQUIRE(e.active().size() == 1);
  CHECK_FALSE(e.active()[0].firing);
  CHECK(e.evaluate(costs(2, 0), 29'000).empty());
  auto fired = e.evaluate(costs(2, 0), 30'000);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].starts_ms == 30'000);

  auto pending_only = evaluator({r});
  CHECK(pending_only.evaluate(costs(2, 0), 0).empty());
  // The counter went back (a new process): the increase counts from zero, 0.5, below 1.
  CHECK(pending_only.evaluate(costs(0.5, 0), 10'000).empty());
  CHECK(pending_only.active().empty());
}

TEST_CASE("alerts: a firing alert is notified again after the repeat interval") {
  auto e = evaluator({rule("tenant_cost", "cost", 1.0)}, /*repeat_s=*/60);
  CHECK(e.evaluate(costs(2, 0), 0).size() == 1);
  CHECK(e.evaluate(costs(2, 0), 59'000).empty());
  auto again = e.evaluate(costs(2, 0), 60'000);
  REQUIRE(again.size() == 1);
  CHECK_FALSE(again[0].resolved);
  CHECK(again[0].starts_ms == 0);  // the same alert, not a new one
}

TEST_CASE("alerts: error rate and latency per route need min_requests, and the quantile interpolates like histogram_quantile") {
  auto errors = rule("errors", "error_rate", 0.2);
  errors.min_requests = 10;
  auto slow = rule("slow", "latency", 0.3);
  slow.min_requests = 10;
  auto e = evaluator({errors, slow});
  AlertInputs in;
  auto& r = in.routes["default"];
  r.requests = 9;
  r.errors = 9;
  r.buckets[8] = 9;  // (0.32, 0.64]
  CHECK(e.evaluate(in, 1000).empty());  // 9 requests: too few to judge
  r.requests = 20;
  r.errors = 5;      // 25%
  r.buckets[8] = 20;
  auto n = e.evaluate(in, 2000);
  REQUIRE(n.size() == 2);
  CHECK(n[0].rule == "errors");
  CHECK(n[0].value == Approx(0.25));
  CHECK(n[0].labels.at("route") == "default");
  CHECK(n[1].rule == "slow");
  // p95 of 20 requests in (0.32, 0.64]: 0.32 + 0.32 * 19/20.
  CHECK(n[1].value == Approx(0.32 + 0.32 * 0.95));
}

TEST_CASE("alerts: guardrail deny rate per route and guardrail, and budget use per budget and key") {
  auto e = evaluator({rule("denials", "guardrail_deny_rate", 0.1), rule("budget", "budget_used", 0.8)});
  AlertInputs in;
  in.routes["default"].requests = 10;
  in.denies[{"default", "pii"}] = 2;
  in.denies[{"default", "rules"}] = 1;
  in.budget_used[{"team_daily", "acme"}] = 0.85;
  in.budget_used[{"team_daily", "globex"}] = 0.5;
  auto n = e.evaluate(in, 1000);
  REQUIRE(n.size() == 2);
  CHECK(n[0].labels.at("guardrail") == "pii");
  CHECK(n[0].value == Approx(0.2));
  CHECK(n[1].labels == alerts::Labels{{"alertname", "budget"}, {"instance", "team_daily"}, {"key", "acme"}, {"severity", "warning"}});
}

TEST_CASE("alerts: the webhook body is Alertmanager's version 4 shape") {
  auto e = evaluator({rule("tenant_cost", "cost", 1.0)});
  auto n = e.evaluate(costs(2, 0), 1'700'000'000'123);
  REQUIRE(n.size() == 1);
  rapidjson::Document d;
  d.Parse(alerts::webhookPayload(n[0], "http://127.0.0.1:9464/alerts").c_str());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["version"].GetString()) == "4");
  CHECK(std::string(d["status"].GetString()) == "firing");
  CHECK(std::string(d["groupLabels"]["alertname"].GetString()) == "tenant_cost");
  const auto& a = d["alerts"][0];
  CHECK(std::string(a["labels"]["tenant"].GetString()) == "acme");
  CHECK(std::string(a["startsAt"].GetString()) == "2023-11-14T22:13:20.123Z");
  CHECK(std::string(a["endsAt"].GetString()) == "0001-01-01T00:00:00Z");
  CHECK(std::string(a["annotations"]["threshold"].GetString()) == "1");
  CHECK(std::string(a["fingerprint"].GetString()).size() == 16);
}

TEST_CASE("alerts: a long window evaluated often keeps a bounded number of snapshots and still compares across it") {
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 7 * 86400;
  auto e = evaluator({r});
  // A week of evaluations every second: one USD a day.
  int64_t now = 0;
  size_t notified = 0;
  for (; now <= 8 * 86400'000LL; now += 1000) notified += e.evaluate(costs(double(now) / 86400'000.0, 0), now).size();
  CHECK(notified == 1);  // fired once, early on, and held: the week's increase stays about 7
  REQUIRE(e.active().size() == 1);
  CHECK(e.active()[0].value == Approx(7.0).epsilon(0.01));
  CHECK(e.snapshots() <= alerts::AlertEvaluator::kMaxSnapshots + 2);  // not 691,200
}
