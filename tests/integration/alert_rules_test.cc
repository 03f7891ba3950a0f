// `outrigger alerts rules` writes the config's alert rules as a Prometheus rules file that
// `promtool check rules` accepts, and `promtool test rules` shows the exported rules fire on
// the series the sidecar exposes, with the labels the sidecar's own evaluation gives them.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "support/daemon_process.h"
#include "support/run_command.h"

using namespace outrigger::testing;

namespace {

constexpr const char* kConfig = R"([metrics]
tenant_label = true
[alerts]
[[alerts.rules]]
name = "tenant_cost"
kind = "cost"
by = "tenant"
window_s = 600
threshold = 5
summary = "a tenant spends too much"
[[alerts.rules]]
name = "errors"
kind = "error_rate"
route = "default"
window_s = 300
threshold = 0.2
min_requests = 10
for_s = 60
severity = "page"
summary = "too many errors"
[[alerts.rules]]
name = "slow"
kind = "latency"
quantile = 0.99
threshold = 2.5
summary = "slow answers"
[[alerts.rules]]
name = "denials"
kind = "guardrail_deny_rate"
threshold = 0.1
summary = "many denials"
[[alerts.rules]]
name = "budget"
kind = "budget_used"
threshold = 0.9
summary = "a budget is nearly spent"
[routes.default]
provider = "mock"
[instances.mock]
type = "provider.mock"
)";

// Ten minutes of a sidecar's series at one-minute steps: acme spends 1 USD a minute, globex
// 0.1; 40% of the default route's requests fail; a guardrail denies 1 of 10; acme's budget is
// 95% spent.
constexpr const char* kTest = R"(rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'outrigger_cost_usd_total{route="default",provider="p",model="m",tenant="acme"}'
        values: '0+1x20'
      - series: 'outrigger_cost_usd_total{route="default",provider="p",model="m",tenant="globex"}'
        values: '0+0.1x20'
      - series: 'outrigger_request_duration_seconds_count{route="default",tenant="acme",code="OK"}'
        values: '0+6x20'
      - series: 'outrigger_request_duration_seconds_count{route="default",tenant="acme",code="UNAVAILABLE"}'
        values: '0+4x20'
      - series: 'outrigger_guardrail_verdicts_total{route="default",guardrail="pii",verdict="deny"}'
        values: '0+1x20'
      - series: 'outrigger_budget_used_ratio{plugin_instance="team",key="acme"}'
        values: '0.95x20'
      - series: 'outrigger_budget_used_ratio{plugin_instance="team",key="globex"}'
        values: '0.2x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: tenant_cost
        exp_alerts:
          - exp_labels: {alertname: tenant_cost, severity: warning, tenant: acme}
            exp_annotations: {summary: "a tenant spends too much"}
      - eval_time: 15m
        alertname: errors
        exp_alerts:
          - exp_labels: {alertname: errors, severity: page, route: default}
            exp_annotations: {summary: "too many errors"}
      - eval_time: 15m
        alertname: denials
        exp_alerts: []
      - eval_time: 15m
        alertname: budget
        exp_alerts:
          - exp_labels: {alertname: budget, severity: warning, plugin_instance: team, key: acme}
            exp_annotations: {summary: "a budget is nearly spent"}
)";

}  // namespace

TEST_CASE("alerts rules: the exported file passes promtool check rules, and promtool test rules fires what the sidecar would") {
  std::string dir = makeTempDir();
  std::ofstream(dir + "/outrigger.toml") << kConfig;
  auto [status, out] = runCommand(std::string(OUTRIGGER_BIN) + " alerts rules -c " + dir + "/outrigger.toml -o " + dir +
                                  "/rules.yml 2>&1");
  INFO(out);
  REQUIRE(status == 0);
  std::ifstream in(dir + "/rules.yml");
  std::string rules((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(rules.find(R"(expr: "sum by (tenant) (increase(outrigger_cost_usd_total[600s])) > 5")") != std::string::npos);
  CHECK(rules.find("for: 60s") != std::string::npos);

  auto [checked, check_out] = runCommand("promtool check rules " + dir + "/rules.yml 2>&1");
  INFO(check_out);
  CHECK(checked == 0);
  CHECK(check_out.find("SUCCESS: 5 rules found") != std::string::npos);

  std::ofstream(dir + "/rules_test.yml") << kTest;
  auto [tested, test_out] = runCommand("cd " + dir + " && promtool test rules rules_test.yml 2>&1");
  INFO(test_out);
  CHECK(tested == 0);
}

TEST_CASE("alerts rules: a config with a cost rule by tenant but no tenant label is refused") {
  std::string dir = makeTempDir();
  std::ofstream(dir + "/bad.toml") << "[alerts]\n[[alerts.rules]]\nname = \"c\"\nkind = \"cost\"\nthreshold = 1\n";
  auto [status, out] = runCommand(std::string(OUTRIGGER_BIN) + " alerts rules -c " + dir + "/bad.toml 2>&1");
  CHECK(status != 0);
  CHECK(out.find("bad.toml:2: a cost rule by tenant needs [metrics] tenant_label = true") != std::string::npos);
}

namespace {

// The series /traces/drift/metrics gives for a drifted route (see drift_daemon_test.cc), a
// stable one, and a target whose upstream changed its model.
constexpr const char* kDriftTest = R"yml(rule_files:
  - @RULES@
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'outrigger_drift_status{route="support",prompt="faq@2"}'
        values: '2x40'
      - series: 'outrigger_drift_status{route="steady",prompt="faq@1"}'
        values: '0x40'
      - series: 'outrigger_drift_signal_status{route="support",prompt="faq@2",signal="refusal_rate"}'
        values: '2x40'
      - series: 'outrigger_drift_value{route="support",prompt="faq@2",signal="refusal_rate",measure="rate"}'
        values: '0.33x40'
      - series: 'outrigger_drift_signal_status{route="steady",prompt="faq@1",signal="refusal_rate"}'
        values: '2x40'
      - series: 'outrigger_drift_value{route="steady",prompt="faq@1",signal="refusal_rate",measure="rate"}'
        values: '-0.2x40'
      - series: 'outrigger_drift_signal_status{route="support",prompt="faq@2",signal="verdict:pii/rewrite"}'
        values: '1x40'
      - series: 'outrigger_drift_model_changes{route="support",target="openai/gpt-4o",kind="model"}'
        values: '1x40'
      - series: 'outrigger_drift_model_changes{route="support",target="openai/gpt-4o",kind="system_fingerprint"}'
        values: '3x40'
      - series: 'outrigger_upstream_changes_total{target="openai/gpt-4o",kind="model"}'
        values: '0x10 1x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: OutriggerRouteDrifted
        exp_alerts: []
      - eval_time: 35m
        alertname: OutriggerRouteDrifted
        exp_alerts:
          - exp_labels: {severity: warning, route: support, prompt: "faq@2"}
            exp_annotations:
              summary: "support faq@2 answers differently from its baseline"
              description: "Run: outrigger drift report --route support"
      - eval_time: 20m
        alertname: OutriggerRefusalRateRose
        exp_alerts:
          - exp_labels: {severity: page, route: support, prompt: "faq@2", signal: refusal_rate}
            exp_annotations:
              summary: "support faq@2 refuses more often than in its baseline"
      - eval_time: 35m
        alertname: OutriggerGuardrailVerdictsShifted
        exp_alerts: []
      - eval_time: 1m
        alertname: OutriggerUpstreamModelChanged
        exp_alerts:
          - exp_labels: {severity: info, route: support, target: openai/gpt-4o, kind: model}
            exp_annotations:
              summary: "openai/gpt-4o on support now answers as another model"
      - eval_time: 5m
        alertname: OutriggerUpstreamChangedNow
        exp_alerts: []
      - eval_time: 15m
        alertname: OutriggerUpstreamChangedNow
        exp_alerts:
          - exp_labels: {severity: info, target: openai/gpt-4o, kind: model}
            exp_annotations:
              summary: "openai/gpt-4o started answering as another model (/metrics, as it happened)"
)yml";

}  // namespace

TEST_CASE("alerts rules: the shipped drift rules pass promtool check rules and fire on drifted routes only") {
  std::string rules = std::string(OUTRIGGER_SOURCE_DIR) + "/deploy/prometheus/drift-rules.yml";
  auto [checked, check_out] = runCommand("promtool check rules " + rules + " 2>&1");
  INFO(check_out);
  CHECK(checked == 0);
  CHECK(check_out.find("SUCCESS: 5 rules found") != std::string::npos);

  auto [config_checked, config_out] =
      runCommand("promtool check config --syntax-only " + std::string(OUTRIGGER_SOURCE_DIR) +
                 "/deploy/prometheus/drift-scrape.yml 2>&1");
  INFO(config_out);
  CHECK(config_checked == 0);

  std::string dir = makeTempDir();
  std::string test = kDriftTest;
  test.replace(test.find("@RULES@"), 7, rules);
  std::ofstream(dir + "/drift_test.yml") << test;
  auto [tested, test_out] = runCommand("cd " + dir + " && promtool test rules drift_test.yml 2>&1");
  INFO(test_out);
  CHECK(tested == 0);
}
