// Alert rules through the real daemon: the cost a tenant's answers run up and the errors a
// route returns fire alerts, which reach a real webhook receiver on loopback (the scripted
// upstream's /hook) as Alertmanager-style JSON: retried after a 500, once per alert however
// many evaluations see it, and resolved once when the condition ends. /alerts and /metrics show
// the same alerts, and the cost series carry the tenant.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
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
  std::string status, alertname, tenant, route, fingerprint, ends_at, fault;
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
                   a["fingerprint"].GetString(), a["endsAt"].GetString(), e["fault"].GetString()});
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
    CHECK(x.ends_at == "0001-01-01T00:00:00Z");
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
