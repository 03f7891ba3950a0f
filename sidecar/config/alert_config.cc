// [metrics] and [alerts]: the tenant label's cap, and alert rules with their webhook.
#include <cmath>
#include <regex>
#include <set>

#include "config/config_parser.h"

namespace outrigger::config::detail {
namespace {

const std::set<std::string> kKinds = {"cost", "error_rate", "latency", "budget_used", "guardrail_deny_rate"};

}  // namespace

double Parser::number(const toml::node& n, const std::string& key) const {
  if (n.is_integer()) return double(*n.value<int64_t>());
  if (!n.is_floating_point() || !std::isfinite(*n.value<double>())) fail(n, "'" + key + "' must be a number");
  return *n.value<double>();
}

void Parser::metrics(const toml::table& t, MetricsSettings* s) const {
  checkKeys(t, {"tenant_label", "max_tenants"}, "[metrics]");
  if (const toml::node* n = t.get("tenant_label")) s->tenant_label = boolean(*n, "tenant_label");
  if (const toml::node* n = t.get("max_tenants")) {
    s->max_tenants = static_cast<uint32_t>(uint(*n, "max_tenants", 100000, 1));
  }
}

void Parser::alerts(const toml::table& t, AlertSettings* s) const {
  checkKeys(t, {"webhook", "webhook_token", "evaluate_every_ms", "repeat_interval_s", "max_attempts", "timeout_ms",
                "queue_capacity", "rules"},
            "[alerts]");
  s->where = where(t);
  if (const toml::node* n = t.get("webhook")) {
    s->webhook = str(*n, "webhook");
    if (s->webhook.rfind("http://", 0) != 0 && s->webhook.rfind("https://", 0) != 0) {
      fail(*n, "'webhook' must be an http:// or https:// URL");
    }
  }
  if (const toml::node* n = t.get("webhook_token")) s->webhook_token = str(*n, "webhook_token");
  if (const toml::node* n = t.get("evaluate_every_ms")) {
    s->evaluate_every_ms = static_cast<uint32_t>(uint(*n, "evaluate_every_ms", 3600000, 100));
  }
  if (const toml::node* n = t.get("repeat_interval_s")) s->repeat_interval_s = static_cast<uint32_t>(uint(*n, "repeat_interval_s", 604800));
  if (const toml::node* n = t.get("max_attempts")) {
    s->max_attempts = static_cast<uint32_t>(uint(*n, "max_attempts", 100, 1));
  }
  if (const toml::node* n = t.get("timeout_ms")) {
    s->timeout_ms = static_cast<uint32_t>(uint(*n, "timeout_ms", 600000, 1));
  }
  if (const toml::node* n = t.get("queue_capacity")) {
    s->queue_capacity = static_cast<uint32_t>(uint(*n, "queue_capacity", 100000, 2));
  }
  if (const toml::node* n = t.get("rules")) {
    const toml::array* rules = n->as_array();
    if (!rules) fail(*n, "'rules' must be an array of tables ([[alerts.rules]])");
    std::set<std::string> names;
    for (const toml::node& r : *rules) {
      s->rules.push_back(alertRule(r));
      if (!names.insert(s->rules.back().name).second) fail(r, "two alert rules are named '" + s->rules.back().name + "'");
    }
  }
}

AlertRuleSettings Parser::alertRule(const toml::node& n) const {
  const toml::table* t = n.as_table();
  if (!t) fail(n, "each [[alerts.rules]] entry must be a table");
  checkKeys(*t, {"name", "kind", "by", "route", "window_s", "threshold", "quantile", "for_s", "min_requests", "severity",
                 "summary"},
            "[[alerts.rules]]");
  AlertRuleSettings r;
  r.where = where(n);
  const toml::node* name = t->get("name");
  const toml::node* kind = t->get("kind");
  const toml::node* threshold = t->get("threshold");
  if (!name || !kind || !threshold) fail(n, "an alert rule needs 'name', 'kind' and 'threshold'");
  r.name = str(*name, "name");
  static const std::regex kName("[A-Za-z_][A-Za-z0-9_]*");
  if (!std::regex_match(r.name, kName)) fail(*name, "'name' must match [A-Za-z_][A-Za-z0-9_]* (it is the alertname)");
  r.kind = str(*kind, "kind");
  if (!kKinds.count(r.kind)) {
    fail(*kind, "'kind' must be one of cost, error_rate, latency, budget_used, guardrail_deny_rate");
  }
  r.threshold = number(*threshold, "threshold");
  if (r.threshold < 0) fail(*threshold, "'threshold' must not be negative");
  if ((r.kind == "error_rate" || r.kind == "guardrail_deny_rate") && r.threshold >= 1) {
    fail(*threshold, "a rate's 'threshold' is a share below 1 (0.05: 5%)");
  }
  if (const toml::node* b = t->get("by")) {
    if (r.kind != "cost") fail(*b, "'by' is for cost rules only");
    r.by = str(*b, "by");
    if (r.by != "tenant" && r.by != "route" && r.by != "model") fail(*b, "'by' must be tenant, route or model");
  } else if (r.kind == "cost") {
    r.by = "tenant";
  }
  if (const toml::node* v = t->get("route")) {
    if (r.kind == "budget_used") fail(*v, "a budget_used rule watches budgets, not routes: leave 'route' out");
    r.route = str(*v, "route");
  }
  if (const toml::node* v = t->get("window_s")) {
    if (r.kind == "budget_used") fail(*v, "a budget_used rule has no window: the budget has its own");
    r.window_s = static_cast<uint32_t>(uint(*v, "window_s", 7 * 86400, 1));
  }
  if (const toml::node* v = t->get("quantile")) {
    if (r.kind != "latency") fail(*v, "'quantile' is for latency rules only");
    r.quantile = number(*v, "quantile");
    if (!(r.quantile > 0 && r.quantile < 1)) fail(*v, "'quantile' must be between 0 and 1 (0.95)");
  }
  if (const toml::node* v = t->get("for_s")) r.for_s = static_cast<uint32_t>(uint(*v, "for_s", 7 * 86400));
  if (const toml::node* v = t->get("min_requests")) r.min_requests = uint(*v, "min_requests", 1u << 30);
  if (const toml::node* v = t->get("severity")) {
    r.severity = str(*v, "severity");
    if (r.severity.empty()) fail(*v, "'severity' must not be empty");
  }
  if (const toml::node* v = t->get("summary")) r.summary = str(*v, "summary");
  return r;
}

}  // namespace outrigger::config::detail
