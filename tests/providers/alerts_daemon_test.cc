// Alert rules through the real daemon: the cost a tenant's answers run up and the errors a
// route returns fire alerts, which reach a real webhook receiver on loopback (the scripted
// upstream's /hook) as Alertmanager-style JSON: retried after a 500, once per alert however
// many evaluations see it, and resolved once when the condition ends. /alerts and /metrics show
// the same alerts, and the cost series carry the tenant. A full webhook queue never loses a
// resolve in favour of a firing notification, and the log shows no part of the webhook URL
// that may hold its secret.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include <outrigger/client.h>

#include "daemon_rig.h"
#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

constexpr double kAnswerUsd = 1000 * 1.5e-7 + 1000 * 6e-7;  // gpt-4o-mini, 1000 + 1000 tokens
constexpr const char* kUsage = R"("usage":{"prompt_tokens":1000,"completion_tokens":1000,"total_tokens":2000})";

client::ChatRequest as(const std::string& tenant) {
  auto r = ask("hello");
  client::Metadata m;
  m.tenant = tenant;
  r.metadata = m;
  return r;
}

// The webhook bodies the receiver logged, with the answer each got ("ok" or "status").
struct Hook {
  std::string status, alertname, tenant, route, fingerprint, starts_at, ends_at, fault;
};

std::vector<Hook> hooks(UpstreamProcess& receiver) {
  std::vector<Hook> out;
  rapidjson::Document log = parseJson(receiver.log());
  if (!log.IsArray()) return out;
  for (const auto& e : log.GetArray()) {
    const auto& b = e["body"];
    if (!b.IsObject() || !b.HasMember("alerts")) continue;
    const auto& a = b["alerts"][0];
    auto label = [&](const char* k) { return a["labels"].HasMember(k) ? std::string(a["labels"][k].GetString()) : ""; };
    out.push_back({b["status"].GetString(), label("alertname"), label("tenant"), label("route"),
                   a["fingerprint"].GetString(), a["startsAt"].GetString(), a["endsAt"].GetString(),
                   e["fault"].GetString()});
  }
  return out;
}

bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

}  // namespace

TEST_CASE("alerts via daemon: cost per tenant and error rate fire, reach the webhook once (retried), and resolve") {
  UpstreamProcess up, receiver;
  REQUIRE(up.ready());
  REQUIRE(receiver.ready());
  REQUIRE(up.script(std::string(R"([{"model":"gpt-4o-mini","repeat":3,)") + kUsage +
                    R"(},{"fault":"status","code":400,"repeat":2}])"));
  REQUIRE(receiver.script(R"([{"fault":"status","code":500}])"));  // the first delivery fails
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess d(daemonHead() + openaiInstance("openai", up.baseUrl()) +
                  "[admin]\nlisten = \"127.0.0.1:0\"\n"
                  "[metrics]\ntenant_label = true\n"
                  "[alerts]\nwebhook = \"" + receiver.baseUrl() + "/hook\"\nevaluate_every_ms = 100\n"
                  "[[alerts.rules]]\nname = \"tenant_cost\"\nkind = \"cost\"\nby = \"tenant\"\nwindow_s = 3600\n"
                  "threshold = " + std::to_string(1.5 * kAnswerUsd) + "\n"
                  "[[alerts.rules]]\nname = \"errors\"\nkind = \"error_rate\"\nwindow_s = 2\nthreshold = 0.5\n"
                  "min_requests = 2\nseverity = \"page\"\n"
                  "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n");
  REQUIRE(d.waitReady());
  client::Client c(at(d));

  // acme runs up two answers' cost, over the threshold; globex one, under it.
  REQUIRE(c.chat(as("acme")).ok());
  REQUIRE(c.chat(as("acme")).ok());
  REQUIRE(c.chat(as("globex")).ok());
  CHECK(adminMetric(d, "outrigger_cost_usd_total{route=\"default\",provider=\"openai\",model=\"gpt-4o-mini\",tenant=\"acme\"}") ==
        Approx(2 * kAnswerUsd));
  CHECK(adminMetric(d, "outrigger_request_duration_seconds_count{route=\"default\",tenant=\"globex\",code=\"OK\"}") == 1);

  // The first delivery gets a 500 and is retried after a second; the retry is the same alert.
  INFO(d.log());
  REQUIRE(waitUntil([&] { return hooks(receiver).size() >= 2; }));
  std::vector<Hook> h = hooks(receiver);
  CHECK(h[0].fault == "status");
  CHECK(h[1].fault == "ok");
  for (const Hook& x : {h[0], h[1]}) {
    CHECK(x.status == "firing");
    CHECK(x.alertname == "tenant_cost");
    CHECK(x.tenant == "acme");
    // Expires after the next repeat (repeat_interval_s, 4 h by default) unless renewed.
    CHECK(x.ends_at != "0001-01-01T00:00:00Z");
    CHECK(x.ends_at > x.starts_at);
  }
  CHECK(h[0].fingerprint == h[1].fingerprint);

  HttpReply alerts = adminGet(d, "/alerts");
  CHECK(alerts.status == 200);
  CHECK(alerts.body.find(R"("rule":"tenant_cost","state":"firing","labels":{"alertname":"tenant_cost","severity":"warning","tenant":"acme"})") !=
        std::string::npos);
  CHECK(alerts.body.find("globex") == std::string::npos);
  CHECK(adminMetric(d, "outrigger_alerts{alertname=\"tenant_cost\",alertstate=\"firing\"}") == 1);
  CHECK(adminMetric(d, "outrigger_alert_notifications_total{result=\"delivered\"}") == 1);
  CHECK(adminMetric(d, "outrigger_alert_webhook_retries_total") == 1);

  // Two failing requests: the error rate (2 of 2 in the last 2 s) fires; with no traffic the
  // window empties and the alert is resolved, once.
  CHECK_FALSE(c.chat(as("acme")).ok());
  CHECK_FALSE(c.chat(as("acme")).ok());
  REQUIRE(waitUntil([&] {
    for (const Hook& x : hooks(receiver)) {
      if (x.alertname == "errors" && x.status == "resolved") return true;
    }
    return false;
  }));
  std::this_thread::sleep_for(500ms);  // a few more evaluations: nothing new may go out
  int cost_firing = 0, errors_firing = 0, errors_resolved = 0;
  for (const Hook& x : hooks(receiver)) {
    if (x.alertname == "tenant_cost" && x.fault == "ok") ++cost_firing;
    if (x.alertname == "errors" && x.status == "firing") {
      ++errors_firing;
      CHECK(x.route == "default");
    }
    if (x.alertname == "errors" && x.status == "resolved") {
      ++errors_resolved;
      CHECK(x.ends_at != "0001-01-01T00:00:00Z");
    }
  }
  CHECK(cost_firing == 1);
  CHECK(errors_firing == 1);
  CHECK(errors_resolved == 1);
  CHECK(adminMetric(d, "outrigger_alerts{alertname=\"errors\",alertstate=\"firing\"}") == 0);
}

TEST_CASE("alerts via daemon: with the webhook queue full, the receiver still hears the alert resolve, and the log keeps the URL's secrets") {
  UpstreamProcess up, receiver;
  REQUIRE(up.ready());
  REQUIRE(receiver.ready());
  // Two slow failures: the error rate and the p95 latency fire at once, and resolve at once 2 s
  // later, while the first notification is still being retried (503 at 0, 1 and 3 s).
  REQUIRE(up.script(R"([{"fault":"status","code":400,"repeat":2,"delay_ms":300}])"));
  REQUIRE(receiver.script(R"([{"fault":"status","code":503,"repeat":3}])"));
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  std::string origin = "http://127.0.0.1:" + std::to_string(receiver.port());
  DaemonProcess d(daemonHead() + openaiInstance("openai", up.baseUrl()) +
                  "[admin]\nlisten = \"127.0.0.1:0\"\n"
                  "[alerts]\nwebhook = \"http://hookuser:hookpass@127.0.0.1:" + std::to_string(receiver.port()) +
                  "/services/T0/SECRETPATH/hook\"\nevaluate_every_ms = 100\nqueue_capacity = 2\nmax_attempts = 20\n"
                  "[[alerts.rules]]\nname = \"errors\"\nkind = \"error_rate\"\nwindow_s = 2\nthreshold = 0.5\n"
                  "min_requests = 2\n"
                  "[[alerts.rules]]\nname = \"slow\"\nkind = \"latency\"\nquantile = 0.95\nwindow_s = 2\n"
                  "threshold = 0.2\nmin_requests = 2\n"
                  "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n");
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  CHECK_FALSE(c.chat(ask("hello")).ok());
  CHECK_FALSE(c.chat(ask("hello")).ok());

  INFO(d.log());
  // Delivered at 7 s: the first firing notification, then a resolve.
  REQUIRE(waitUntil([&] {
    for (const Hook& x : hooks(receiver)) {
      if (x.status == "resolved" && x.fault == "ok") return true;
    }
    return false;
  }, 20s));
  std::this_thread::sleep_for(500ms);
  // What the receiver shows: each alert as its last delivered notification left it.
  std::map<std::string, std::string> shown;
  for (const Hook& x : hooks(receiver)) {
    if (x.fault == "ok") shown[x.alertname] = x.status;
  }
  CHECK_FALSE(shown.empty());
  for (const auto& [alertname, status] : shown) {
    INFO(alertname);
    CHECK(status == "resolved");
  }
  CHECK(adminMetric(d, "outrigger_alerts{alertname=\"errors\",alertstate=\"firing\"}") == 0);
  CHECK(adminMetric(d, "outrigger_alerts{alertname=\"slow\",alertstate=\"firing\"}") == 0);
  // Two of the four did not fit: the firing one the resolve replaced, and the other resolve.
  HttpReply alerts = adminGet(d, "/alerts");
  CHECK(alerts.body.find(R"("dropped":2)") != std::string::npos);
  CHECK(alerts.body.find(R"("queued":0)") != std::string::npos);

  // The log names the webhook by scheme, host and port only.
  std::string log = d.log();
  CHECK(log.find("notifying " + origin) != std::string::npos);
  CHECK(log.find("SECRETPATH") == std::string::npos);
  CHECK(log.find("hookpass") == std::string::npos);
  CHECK(log.find("hookuser") == std::string::npos);
}
