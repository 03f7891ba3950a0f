// The daemon's alert rules ([alerts]): a main-loop timer evaluates them over the figures every
// worker keeps (alerts/alert_evaluator.h) and hands what changed to the webhook; /alerts and
// /metrics show the alerts pending and firing.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>

#include "alerts/prometheus_rules.h"
#include "alerts/webhook_payload.h"
#include "common/clock.h"
#include "common/log.h"
#include "cost/usage_meter.h"
#include "daemon/daemon.h"
#include "http/http_metrics.h"
#include "telemetry/plugin_metrics.h"
#include "telemetry/request_meter.h"

namespace outrigger::daemon {
namespace {

int64_t unixMs() { return int64_t(wallNowNs() / 1000000); }

// The webhook URL as far as the log may show it: scheme, host and port. Chat webhooks (Slack,
// Teams, Discord) carry their secret in the path, others in the query or as user:password@.
std::string webhookOrigin(const std::string& url) {
  size_t scheme = url.find("://");
  size_t from = scheme == std::string::npos ? 0 : scheme + 3;
  size_t end = url.find_first_of("/?#", from);
  std::string authority = url.substr(from, end == std::string::npos ? std::string::npos : end - from);
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  return url.substr(0, from) + authority;
}

}  // namespace

void Daemon::startAlerts() {
  const config::AlertSettings& a = settings_.alerts;
  if (a.rules.empty()) return;
  alert_evaluator_ = std::make_unique<alerts::AlertEvaluator>(
      a.rules, a.repeat_interval_s, telemetry::kDurationBuckets, a.evaluate_every_ms,
      a.webhook.empty() ? 0 : alerts::WebhookSender::longestDeliveryMs(a));
  if (!a.webhook.empty()) {
    webhook_ = std::make_unique<alerts::WebhookSender>(&loop_, a, upstreamSettings(settings_.server));
    webhook_->onLost([this](const std::string& fingerprint, bool resolved) {
      alert_evaluator_->undelivered(fingerprint, resolved, int64_t(monoNowNs() / 1000000));
    });
  }
  alert_timer_ = new uv_timer_t;
  uv_timer_init(&loop_, alert_timer_);
  alert_timer_->data = this;
  uv_timer_start(alert_timer_, &Daemon::onAlertTick, a.evaluate_every_ms, a.evaluate_every_ms);
  ORLOG(LogLevel::kInfo, "alerts",
        std::to_string(a.rules.size()) + " alert rules, evaluated every " + std::to_string(a.evaluate_every_ms) + " ms" +
            (webhook_ ? ", notifying " + webhookOrigin(a.webhook) : ", without a webhook"));
}

void Daemon::stopAlerts() {
  if (alert_timer_) {
    uv_timer_stop(alert_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(alert_timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    alert_timer_ = nullptr;
  }
  if (webhook_) webhook_->shutdown();
}

void Daemon::onAlertTick(uv_timer_t* t) {
  auto* self = static_cast<Daemon*>(t->data);
  for (const alerts::Notification& n : self->alert_evaluator_->evaluate(self->alertInputs(), int64_t(monoNowNs() / 1000000), unixMs())) {
    ORLOG(n.resolved ? LogLevel::kInfo : LogLevel::kWarn, "alerts", (n.resolved ? "resolved: " : "firing: ") + n.summary);
    if (self->webhook_) {
      std::string url = self->admin_listener_ ? "http://" + self->admin_listener_->boundAddress() + "/alerts" : "";
      self->webhook_->send(alerts::webhookPayload(n, url), n.fingerprint, n.resolved);
    }
  }
}

alerts::AlertInputs Daemon::alertInputs() const {
  alerts::AlertInputs in;
  telemetry::RequestMeterSnapshot requests;
  for (const auto& w : workers_) w->requestMeter().mergeInto(&requests);
  for (const auto& [k, h] : requests.durations) {
    const auto& [route, tenant, code] = k;
    auto& r = in.routes[route];
    r.requests += double(h.count);
    if (code != "OK" && code != "CANCELLED") r.errors += double(h.count);
    uint64_t finite = 0;
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      r.buckets[i] += double(h.buckets[i]);
      finite += h.buckets[i];
    }
    r.buckets[16] += double(h.count - finite);
  }
  for (const auto& [k, n] : requests.verdicts) {
    if (std::get<2>(k) == "deny") in.denies[{std::get<0>(k), std::get<1>(k)}] += double(n);
  }
  std::map<std::string, cost::UsageSeries> usage;
  uint64_t overflowed = 0;
  for (const auto& w : workers_) w->usageMeter().mergeInto(&usage, &overflowed);
  for (const auto& [key, s] : usage) in.cost[{s.route, s.tenant, s.model}] += s.cost_usd;
  // Collecting every plugin's metrics takes the budgets' locks (their most-used keys): only when
  // a rule reads them.
  const auto& rules = alert_evaluator_->rules();
  if (std::none_of(rules.begin(), rules.end(), [](const auto& r) { return r.kind == "budget_used"; })) return in;
  telemetry::PluginMetrics plugins;
  plugins.collect(liveInstances());
  if (auto it = plugins.families().find("outrigger_budget_used_ratio"); it != plugins.families().end()) {
    for (const auto& [labels, value] : it->second.samples) {
      std::string instance, key;
      for (const auto& [k, v] : labels) {
        if (k == "plugin_instance") instance = v;
        else if (k == "key") key = v;
      }
      in.budget_used[{instance, key}] = value;
    }
  }
  return in;
}

std::string Daemon::alertsJson() const {
  if (!alert_evaluator_) return "";
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&](const std::string& s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };
  // RapidJSON writes nothing for an infinite double (a plugin's gauge may be +Inf): null instead.
  auto number = [&](double v) { std::isfinite(v) ? w.Double(v) : w.Null(); };
  w.StartObject();
  w.Key("rules");
  w.StartArray();
  for (const auto& r : alert_evaluator_->rules()) {
    w.StartObject();
    w.Key("name"), str(r.name);
    w.Key("kind"), str(r.kind);
    w.Key("threshold"), number(r.threshold);
    w.Key("expr"), str(alerts::promqlOf(r));
    w.EndObject();
  }
  w.EndArray();
  w.Key("alerts");
  w.StartArray();
  for (const alerts::AlertState& s : alert_evaluator_->active()) {
    w.StartObject();
    w.Key("rule"), str(s.rule);
    w.Key("state"), w.String(s.firing ? "firing" : "pending");
    w.Key("labels");
    w.StartObject();
    for (const auto& [k, v] : s.labels) w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())), str(v);
    w.EndObject();
    w.Key("value"), number(s.value);
    w.Key("threshold"), number(s.threshold);
    w.Key("since"), str(alerts::rfc3339(s.firing ? s.fired_ms : s.active_since_wall_ms));
    w.Key("fingerprint"), str(alerts::fingerprintOf(s.labels));
    w.EndObject();
  }
  w.EndArray();
  if (webhook_) {
    const alerts::WebhookCounters& c = webhook_->counters();
    w.Key("webhook");
    w.StartObject();
    w.Key("delivered"), w.Uint64(c.delivered);
    w.Key("failed"), w.Uint64(c.failed);
    w.Key("dropped"), w.Uint64(c.dropped);
    w.Key("retries"), w.Uint64(c.retries);
    w.Key("queued"), w.Uint64(webhook_->queued());
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string Daemon::alertMetrics() const {
  if (!alert_evaluator_) return "";
  std::map<std::pair<std::string, std::string>, int> counts;  // rule, state
  for (const auto& r : alert_evaluator_->rules()) counts[{r.name, "firing"}] = 0, counts[{r.name, "pending"}] = 0;
  for (const alerts::AlertState& s : alert_evaluator_->active()) ++counts[{s.rule, s.firing ? "firing" : "pending"}];
  std::string out =
      "# HELP outrigger_alerts Alerts of the sidecar's own rules, by rule and state.\n# TYPE outrigger_alerts gauge\n";
  for (const auto& [k, n] : counts) {
    out += "outrigger_alerts{alertname=\"" + http::escapeLabel(k.first) + "\",alertstate=\"" + k.second + "\"} " +
           std::to_string(n) + "\n";
  }
  if (webhook_) {
    const alerts::WebhookCounters& c = webhook_->counters();
    out += "# HELP outrigger_alert_notifications_total Alert notifications for the webhook, by result.\n"
           "# TYPE outrigger_alert_notifications_total counter\n";
    for (const auto& [result, n] : {std::pair<const char*, uint64_t>{"delivered", c.delivered}, {"failed", c.failed}, {"dropped", c.dropped}}) {
      out += std::string("outrigger_alert_notifications_total{result=\"") + result + "\"} " + std::to_string(n) + "\n";
    }
    out += http::renderScalar("outrigger_alert_webhook_retries_total", "counter", "Webhook attempts that were retried.",
                              double(c.retries));
  }
  return out;
}

}  // namespace outrigger::daemon
