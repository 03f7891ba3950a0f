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

// `traces arms --json` once the store holds `requests` requests of the split route and
// `feedback` feedback records for them (a feedback row is committed after its request's, so
// waiting for the requests alone could catch the last ones without theirs).
rapidjson::Document armsOnceStored(const DaemonProcess& d, uint64_t requests, uint64_t feedback) {
  rapidjson::Document doc;
  for (int i = 0; i < 200; ++i) {
    auto [status, out] = runCommand(arms(d, "--json"));
    doc.Parse(out.c_str());
    uint64_t total = 0, scored = 0;
    if (status == 0 && !doc.HasParseError() && doc.IsObject()) {
      for (const auto& a : doc["arms"].GetArray()) {
        total += a["requests"].GetUint64();
        scored += a["feedback"]["n"].GetUint64();
      }
    }
    if (total == requests && scored == feedback) break;
    std::this_thread::sleep_for(25ms);
  }
  return doc;
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

  rapidjson::Document doc = armsOnceStored(d, 240, static_cast<uint64_t>(answered));
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

TEST_CASE("arms: a sampled judge grades each arm's captured answers, and the arms' judge scores differ significantly") {
  // Each arm answers with the grade it deserves; the judge route echoes the answer it is shown,
  // so the judge's verdict is the arm's own grade.
  DaemonProcess d(basicConfig("mode = \"echo\"",
                              "[instances.steady]\ntype = \"provider.mock\"\n[instances.steady.config]\nmodel = \"steady-1\"\n"
                              "mode = \"fixed\"\ntext = '{\"score\": 0.9, \"reason\": \"kind and right\"}'\n"
                              "[instances.canary]\ntype = \"provider.mock\"\n[instances.canary.config]\nmodel = \"canary-1\"\n"
                              "mode = \"fixed\"\ntext = '{\"score\": 0.3, \"reason\": \"curt\"}'\n"
                              "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\n"
                              "path = \"@DIR@/traces.db\"\ncommit_interval_ms = 20\n"
                              "[routes.split]\nstrategy = \"weighted\"\nexporters = [\"traces\"]\ncapture = \"full\"\n"
                              "targets = [{ provider = \"steady\", model = \"steady-1\" }, { provider = \"canary\", model = \"canary-1\" }]\n"
                              "[routes.judge]\nprovider = \"mock\"\n"));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  for (int i = 0; i < 120; ++i) {
    client::ChatRequest r = ask("question " + std::to_string(i));
    r.model = "split";
    REQUIRE(c.chat(r).ok());
  }
  std::string judged = arms(d, "--json --socket " + d.socket() + " --judge-route judge --judge-rubric 'Is it helpful' "
                               "--judge-sample 30 --judge-per-second 1000 --judge-cache " + d.dir() + "/judge.sqlite");
  rapidjson::Document doc = armsOnceStored(d, 120, 0);  // no feedback sent
  CHECK_FALSE(doc["arms"][0].HasMember("judge"));  // no judge asked for, none shown

  auto [status, out] = runCommand(judged);
  INFO(out);
  REQUIRE(status == 0);
  doc.Parse(out.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  const rapidjson::Value* steady = armNamed(doc, "steady/steady-1");
  const rapidjson::Value* canary = armNamed(doc, "canary/canary-1");
  REQUIRE(steady);
  REQUIRE(canary);
  CHECK((*steady)["judge"]["value"].GetDouble() == Approx(0.9));
  CHECK((*canary)["judge"]["value"].GetDouble() == Approx(0.3));
  CHECK((*steady)["judge"]["n"].GetUint64() == std::min<uint64_t>(30, (*steady)["requests"].GetUint64()));
  const rapidjson::Value* other = (*steady)["baseline"].GetBool() ? canary : steady;
  double sign = other == canary ? 1 : -1;
  CHECK((*other)["vs_baseline"]["judge"]["significant"].GetBool());
  CHECK(sign * (*other)["vs_baseline"]["judge"]["value"].GetDouble() == Approx(-0.6));
  REQUIRE(doc.HasMember("notes"));
  std::string note = doc["notes"][0].GetString();
  CHECK(note.find("answers graded, 0 from the cache") != std::string::npos);

  // The table shows the column; a rubric is required.
  auto [table_status, table] = runCommand(judged.substr(0, judged.find(" --json")) + judged.substr(judged.find(" --json") + 7));
  CHECK(table_status == 0);
  CHECK(table.find("JUDGE") != std::string::npos);
  CHECK(table.find("from the cache") != std::string::npos);
  auto [no_rubric, why] = runCommand(arms(d, "--socket " + d.socket() + " --judge-route judge 2>&1"));
  CHECK(no_rubric == 2);
  CHECK(why.find("--judge-route needs --judge-rubric") != std::string::npos);
}
