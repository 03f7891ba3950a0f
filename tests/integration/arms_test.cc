// A route that splits its traffic between two targets, through the real daemon and its trace
// store: `outrigger traces arms` and the admin server's /traces/arms tell the arms apart by
// errors, latency and user feedback, with 95% intervals, and agree.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <string>
#include <thread>

#include <outrigger/client.h>

#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/run_command.h"
#include "support/sdk_requests.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

// "steady" answers at once; "canary" takes 15 ms more and refuses every 4th request it gets with
// a non-retryable INVALID_ARGUMENT (no fallback).
std::string splitConfig() {
  return basicConfig("mode = \"echo\"",
                     "[instances.steady]\ntype = \"provider.mock\"\n[instances.steady.config]\nmodel = \"steady-1\"\n"
                     "[instances.canary]\ntype = \"provider.mock\"\n[instances.canary.config]\nmodel = \"canary-1\"\n"
                     "latency_ms = 15\nfail_every = 4\nfail_code = \"INVALID_ARGUMENT\"\nfail_retryable = false\n"
                     "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\n"
                     "path = \"@DIR@/traces.db\"\ncommit_interval_ms = 20\n"
                     "[routes.split]\nstrategy = \"weighted\"\nexporters = [\"traces\"]\n"
                     "targets = [{ provider = \"steady\", model = \"steady-1\" }, { provider = \"canary\", model = \"canary-1\" }]\n"
                     "[admin]\nlisten = \"127.0.0.1:0\"\n");
}

std::string arms(const DaemonProcess& d, const std::string& args) {
  return std::string(OUTRIGGER_BIN) + " traces arms --route split " + args + " --db " + d.dir() + "/traces.db";
}

const rapidjson::Value* armNamed(const rapidjson::Document& doc, const std::string& name) {
  for (const auto& a : doc["arms"].GetArray()) {
    if (name == a["arm"].GetString()) return &a;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("arms: a split route's arms are compared by errors, latency and feedback with 95% intervals, on the CLI and /traces/arms") {
  DaemonProcess d(splitConfig());
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  int answered = 0;
  for (int i = 0; i < 240; ++i) {
    client::ChatRequest r = ask("question " + std::to_string(i));
    r.model = "split";
    auto a = c.chat(r);
    if (!a.ok()) continue;
    ++answered;
    // Users like the steady arm's answers better.
    REQUIRE_FALSE(c.feedback(a.value().trace_id, a.value().model == "steady-1" ? 0.9 : 0.3));
  }
  REQUIRE(answered > 150);

  rapidjson::Document doc;
  for (int i = 0; i < 200; ++i) {
    auto [status, out] = runCommand(arms(d, "--json"));
    doc.Parse(out.c_str());
    uint64_t total = 0;
    if (status == 0 && !doc.HasParseError() && doc.IsObject()) {
      for (const auto& a : doc["arms"].GetArray()) total += a["requests"].GetUint64();
    }
    if (total == 240) break;
    std::this_thread::sleep_for(25ms);
  }
  REQUIRE(doc.IsObject());
  REQUIRE(doc["arms"].Size() == 2);
  const rapidjson::Value* steady = armNamed(doc, "steady/steady-1");
  const rapidjson::Value* canary = armNamed(doc, "canary/canary-1");
  REQUIRE(steady);
  REQUIRE(canary);
  CHECK((*steady)["requests"].GetUint64() + (*canary)["requests"].GetUint64() == 240);
  CHECK((*steady)["error_rate"]["value"].GetDouble() == 0);
  double canary_errors = (*canary)["error_rate"]["value"].GetDouble();
  CHECK(canary_errors > 0.15);
  CHECK(canary_errors < 0.35);
  CHECK((*canary)["error_rate"]["ci95"][0].GetDouble() < canary_errors);
  CHECK((*canary)["error_rate"]["ci95"][1].GetDouble() > canary_errors);
  CHECK((*steady)["feedback"]["value"].GetDouble() == Approx(0.9));
  CHECK((*canary)["feedback"]["value"].GetDouble() == Approx(0.3));

  // Whichever arm is the baseline, the other differs significantly in all three.
  const rapidjson::Value* other = (*steady)["baseline"].GetBool() ? canary : steady;
  double sign = other == canary ? 1 : -1;
  const rapidjson::Value& vs = (*other)["vs_baseline"];
  CHECK(vs["error_rate"]["significant"].GetBool());
  CHECK(sign * vs["error_rate"]["value"].GetDouble() > 0);
  CHECK(vs["latency_ms"]["significant"].GetBool());
  CHECK(sign * vs["latency_ms"]["value"].GetDouble() > 10);
  CHECK(vs["feedback"]["significant"].GetBool());
  CHECK(sign * vs["feedback"]["value"].GetDouble() == Approx(-0.6));
  CHECK_FALSE(vs["cost_usd"]["significant"].GetBool());  // the mock costs nothing either way

  // The admin server answers the same; a route is required.
  HttpReply over_http = adminGet(d, "/traces/arms?route=split");
  CHECK(over_http.status == 200);
  rapidjson::Document same;
  same.Parse(over_http.body.c_str());
  REQUIRE_FALSE(same.HasParseError());
  CHECK(same == doc);
  CHECK(adminGet(d, "/traces/arms").status == 400);

  auto [status, text] = runCommand(arms(d, ""));
  CHECK(status == 0);
  CHECK(text.find("(baseline)") != std::string::npos);
  CHECK(text.find("vs baseline") != std::string::npos);
  CHECK(text.find("]*") != std::string::npos);  // a significant difference is marked
}
