// Drift through the real daemon, the scripted upstream and the trace store: a day of "support"
// answers, then a new prompt version whose answers are long, full of digits, often refused and
// come from another model snapshot with another fingerprint; beside it a "steady" route whose
// traffic does not change. `outrigger drift report` (and /traces/drift, /traces/drift/metrics)
// must call the first drifted on every signal that moved, with the model and fingerprint
// changes as events, and the second stable; the Prometheus exposition passes promtool and the
// shipped alert rules fire on it.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "curl_call.h"
#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/run_command.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono_literals;

namespace {

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string driftConfig(const std::string& upstream) {
  return daemonHead() + openaiInstance("openai", upstream) +
         "[instances.traces]\ntype = \"exporter.sqlite\"\n[instances.traces.config]\n"
         "path = \"@DIR@/traces.db\"\ncommit_interval_ms = 20\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = [\"127.0.0.1:0\"]\n"
         "[routes.support]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\nexporters = [\"traces\"]\ncapture = \"full\"\n"
         "[routes.steady]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\nexporters = [\"traces\"]\ncapture = \"full\"\n"
         "[routes.embeddings]\nprovider = \"openai\"\nmodel = \"text-embedding-3-small\"\n"
         "[routes.judge]\nprovider = \"openai\"\nmodel = \"gpt-4o\"\n";
}

// One upstream step answering `n` times with `text` of `tokens` completion tokens.
std::string answers(int n, const std::string& text, int tokens, const std::string& model, const std::string& fp,
                    const std::string& fault = "ok") {
  return R"({"fault":")" + fault + R"(","repeat":)" + std::to_string(n) + R"(,"text":")" + text +
         R"(","refusal":"I can't help with that.","model":")" + model + R"(","system_fingerprint":")" + fp +
         R"(","usage":{"prompt_tokens":12,"completion_tokens":)" + std::to_string(tokens) +
         R"(,"total_tokens":)" + std::to_string(12 + tokens) + "}}";
}

void ask(client::Client& c, const std::string& route, const std::string& version, int n) {
  for (int i = 0; i < n; ++i) {
    client::ChatRequest r = outrigger::testing::ask("question " + std::to_string(i));
    r.model = route;
    r.metadata = client::Metadata{};
    r.metadata->prompt_id = "faq";
    r.metadata->prompt_version = version;
    auto a = c.chat(r);
    REQUIRE(a.ok());
  }
}

const rapidjson::Value* group(const rapidjson::Document& doc, const std::string& route) {
  for (const auto& g : doc["groups"].GetArray()) {
    if (route == g["route"].GetString()) return &g;
  }
  return nullptr;
}

const rapidjson::Value* signal(const rapidjson::Value& g, const std::string& name) {
  for (const auto& s : g["signals"].GetArray()) {
    if (name == s["signal"].GetString()) return &s;
  }
  return nullptr;
}

std::string status(const rapidjson::Value& g, const std::string& name) {
  const rapidjson::Value* s = signal(g, name);
  return s ? (*s)["status"].GetString() : "(missing)";
}

}  // namespace

TEST_CASE("drift via daemon: a new prompt version's longer, refused, other-model answers drift, a steady route does not") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess d(driftConfig(up.baseUrl()));
  REQUIRE(d.waitReady());
  int http = boundPort(d, "OpenAI-compatible API");
  int admin = boundPort(d, "admin endpoints");
  REQUIRE(http != 0);
  REQUIRE(admin != 0);
  client::Client c(at(d));

  // The baseline: short worded answers from one snapshot, on both routes.
  int64_t baseline_since = nowNs();
  REQUIRE(up.script("[" + answers(60, "Open settings and choose reset password.", 7, "gpt-4o-2024-08-06", "fp_a") + "," +
                    answers(60, "Your order ships within two days.", 6, "gpt-4o-2024-08-06", "fp_a") + "]"));
  ask(c, "support", "1", 60);
  ask(c, "steady", "1", 60);
  std::this_thread::sleep_for(20ms);
  int64_t split = nowNs();
  std::this_thread::sleep_for(20ms);

  // The current window: support's prompt version 2 answers at length in digits from another
  // snapshot, and a third of its answers are refusals; steady is unchanged.
  std::string digits = "Reference 4821 7730 1299 5512 0087 3341 9902 6675 1184 2290 4471 8836 ";
  REQUIRE(up.script("[" + answers(40, digits + digits, 80, "gpt-4o-2024-11-20", "fp_b") + "," +
                    answers(20, "", 0, "gpt-4o-2024-11-20", "fp_b", "refusal") + "," +
                    answers(60, "Your order ships within two days.", 6, "gpt-4o-2024-08-06", "fp_a") + "]"));
  ask(c, "support", "2", 60);
  ask(c, "steady", "1", 60);
  int64_t until = nowNs() + 1000000000LL;
  // The drift report embeds the answers through the sidecar's embeddings route.
  REQUIRE(up.post("/_control/script", R"({"steps": [], "default": {"vectors": "by_text"}})") == 200);

  auto seconds = [](int64_t ns) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.6f", double(ns) / 1e9);
    return std::string(buf);
  };
  std::string dir = d.dir();
  std::string report = std::string(OUTRIGGER_BIN) + " drift report --db " + dir + "/traces.db --baseline-since " +
                       seconds(baseline_since) + " --baseline-until " + seconds(split) + " --since " + seconds(split) +
                       " --until " + seconds(until) + " --embed-url http://127.0.0.1:" + std::to_string(http) +
                       " --embed-route embeddings --prometheus " + dir + "/drift.prom";

  // Wait for the store to hold all 240 requests.
  rapidjson::Document doc;
  int code = -1;
  for (int i = 0; i < 200; ++i) {
    auto [status_code, out] = runCommand(report + " --json 2>&1");
    code = status_code;
    doc.Parse(out.c_str());
    if (!doc.HasParseError() && doc.IsObject() && group(doc, "support") && group(doc, "steady") &&
        (*group(doc, "support"))["current_requests"].GetUint64() == 60 &&
        (*group(doc, "steady"))["current_requests"].GetUint64() == 60) {
      break;
    }
    std::this_thread::sleep_for(25ms);
  }
  REQUIRE(doc.IsObject());
  INFO(runCommand(report + " 2>&1").second);
  CHECK(code == 100);
  CHECK(doc["drifted"].GetBool());

  const rapidjson::Value* support = group(doc, "support");
  REQUIRE(support);
  CHECK(std::string((*support)["prompt"].GetString()) == "faq@2");
  CHECK(std::string((*support)["baseline_scope"].GetString()) == "route");  // version 2 has no baseline of its own
  CHECK((*support)["baseline_requests"].GetUint64() == 60);
  CHECK(std::string((*support)["status"].GetString()) == "drifted");
  CHECK(status(*support, "answer_tokens") == "drifted");
  CHECK((*signal(*support, "answer_tokens"))["current"].GetDouble() == 80);
  CHECK(status(*support, "refusal_rate") == "drifted");
  CHECK((*signal(*support, "refusal_rate"))["current"].GetDouble() == Approx(1.0 / 3));
  CHECK(status(*support, "error_rate") == "stable");
  CHECK(status(*support, "answer_centroid") == "drifted");

  const rapidjson::Value* steady = group(doc, "steady");
  REQUIRE(steady);
  // Its latency may wobble (moderate at most); nothing drifts.
  CHECK(std::string((*steady)["status"].GetString()) != "drifted");
  CHECK(status(*steady, "answer_tokens") == "stable");
  CHECK(status(*steady, "refusal_rate") == "stable");
  CHECK(status(*steady, "answer_centroid") == "stable");

  // The snapshot and fingerprint changes of support's target are events; steady saw none.
  int model_events = 0, fingerprint_events = 0;
  for (const auto& e : doc["events"].GetArray()) {
    CHECK(std::string(e["route"].GetString()) == "support");
    if (std::string(e["kind"].GetString()) == "model") {
      ++model_events;
      CHECK(std::string(e["from"].GetString()) == "gpt-4o-2024-08-06");
      CHECK(std::string(e["to"].GetString()) == "gpt-4o-2024-11-20");
    } else {
      ++fingerprint_events;
      CHECK(std::string(e["from"].GetString()) == "fp_a");
      CHECK(std::string(e["to"].GetString()) == "fp_b");
    }
  }
  CHECK(model_events == 1);
  CHECK(fingerprint_events == 1);

  // The CLI's --prometheus file holds the same families, the centroid among them.
  std::ifstream file(dir + "/drift.prom");
  std::string written((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  CHECK(written.find("outrigger_drift_value{measure=\"cosine_distance\",prompt=\"faq@2\",route=\"support\",signal=\"answer_centroid\"}") !=
        std::string::npos);

  // The daemon saw the changes as they happened: support's answers moved the shared target to
  // the new snapshot, steady's moved it back; each change logged and counted.
  std::string live = curlCall("http://127.0.0.1:" + std::to_string(admin) + "/metrics").body;
  CHECK(live.find("outrigger_upstream_changes_total{target=\"openai/gpt-4o\",kind=\"model\"} 2") != std::string::npos);
  CHECK(live.find("outrigger_upstream_changes_total{target=\"openai/gpt-4o\",kind=\"system_fingerprint\"} 2") !=
        std::string::npos);
  CHECK(live.find("outrigger_upstream_info{target=\"openai/gpt-4o\",model=\"gpt-4o-2024-08-06\",system_fingerprint=\"fp_a\"} 1") !=
        std::string::npos);
  CHECK(d.log().find("target openai/gpt-4o now answers with model gpt-4o-2024-11-20 (was gpt-4o-2024-08-06)") !=
        std::string::npos);

  // Steady alone: no drift, exit 0.
  auto [steady_code, steady_out] = runCommand(report + " --route steady 2>&1");
  INFO(steady_out);
  CHECK(steady_code == 0);
  CHECK(steady_out.find("drift: no") != std::string::npos);

  // The admin server answers the same windows (without the centroid: it embeds nothing).
  std::string query = "?baseline_since=" + seconds(baseline_since) + "&baseline_until=" + seconds(split) +
                      "&since=" + seconds(split) + "&until=" + seconds(until);
  CurlReply json = curlCall("http://127.0.0.1:" + std::to_string(admin) + "/traces/drift" + query);
  CHECK(json.status == 200);
  rapidjson::Document same;
  same.Parse(json.body.c_str());
  REQUIRE_FALSE(same.HasParseError());
  CHECK(same["drifted"].GetBool());
  REQUIRE(group(same, "support"));
  CHECK(status(*group(same, "support"), "answer_tokens") == "drifted");
  CHECK(signal(*group(same, "support"), "answer_centroid") == nullptr);
  CHECK(same["events"].Size() == 2);

  CurlReply metrics = curlCall("http://127.0.0.1:" + std::to_string(admin) + "/traces/drift/metrics" + query);
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("outrigger_drift_status{prompt=\"faq@2\",route=\"support\"} 2") != std::string::npos);
  CHECK(metrics.body.find("outrigger_drift_model_changes{kind=\"model\",route=\"support\",target=\"openai/gpt-4o\"} 1") !=
        std::string::npos);
  std::ofstream(dir + "/scrape.prom") << metrics.body;
  auto [lint, lint_out] = runCommand("promtool check metrics < " + dir + "/scrape.prom 2>&1");
  INFO(lint_out);
  CHECK(lint == 0);

  // An empty window is refused.
  CHECK(curlCall("http://127.0.0.1:" + std::to_string(admin) + "/traces/drift?since=1h&until=2h").status == 400);

  // Reports asked for at once: at most two run, the others are refused at once as busy, and
  // every answer is one or the other. Bursts until one is refused (the first may all fit).
  int refused = 0, answered = 0, other = 0;
  for (int burst = 0; burst < 5 && refused == 0; ++burst) {
    std::vector<CurlReply> replies(12);
    std::vector<std::thread> callers;
    for (auto& reply : replies) {
      callers.emplace_back([&, query] { reply = curlCall("http://127.0.0.1:" + std::to_string(admin) + "/traces/drift" + query); });
    }
    for (auto& t : callers) t.join();
    for (const auto& reply : replies) {
      if (reply.status == 200) ++answered;
      else if (reply.status == 429 && reply.body.find("\"busy\"") != std::string::npos) ++refused;
      else ++other;
    }
  }
  CHECK(refused > 0);
  CHECK(answered > 0);
  CHECK(other == 0);
  // The count comes back down: a report asked for alone is answered.
  CHECK(curlCall("http://127.0.0.1:" + std::to_string(admin) + "/traces/drift" + query).status == 200);
}

TEST_CASE("drift via daemon: a sampled judge grades both windows through a judge route, cached, within its budget") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess d(driftConfig(up.baseUrl()));
  REQUIRE(d.waitReady());
  client::Client c(at(d));
  auto seconds = [](int64_t ns) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.6f", double(ns) / 1e9);
    return std::string(buf);
  };
  int64_t since = nowNs();
  REQUIRE(up.script("[" + answers(40, "Open settings and choose reset password.", 7, "gpt-4o", "fp_a") + "]"));
  ask(c, "support", "1", 40);
  std::this_thread::sleep_for(20ms);
  int64_t split = nowNs();
  std::this_thread::sleep_for(20ms);
  REQUIRE(up.script("[" + answers(40, "No idea, try again later.", 6, "gpt-4o", "fp_a") + "]"));
  ask(c, "support", "1", 40);
  int64_t until = nowNs() + 1000000000LL;

  // The judge likes the baseline's answers and not the current ones: it is asked in that order.
  auto verdict = [](int n, double score) {
    std::string text = R"({\"score\": )" + std::to_string(score) + R"(, \"reason\": \"graded\", \"pass\": )" +
                       (score >= 0.5 ? "true" : "false") + "}";
    return R"({"repeat":)" + std::to_string(n) + R"(,"text":")" + text +
           R"(","usage":{"prompt_tokens":200,"completion_tokens":20,"total_tokens":220}})";
  };
  REQUIRE(up.script("[" + verdict(40, 0.9) + "," + verdict(40, 0.3) + "]"));
  std::string dir = d.dir();
  std::string report = std::string(OUTRIGGER_BIN) + " drift report --route support --json --db " + dir +
                       "/traces.db --baseline-since " + seconds(since) + " --baseline-until " + seconds(split) +
                       " --since " + seconds(split) + " --until " + seconds(until) + " --socket " + d.socket() +
                       " --judge-route judge --judge-rubric 'Does the answer help the user?' --judge-per-second 1000";

  // Wait for the store to hold the 80 requests (the judge's own requests are not exported).
  std::string count = std::string(OUTRIGGER_BIN) + " traces stats --json --route support --db " + dir + "/traces.db";
  for (int i = 0; i < 200; ++i) {
    auto [code, out] = runCommand(count);
    if (out.find("\"requests\":80") != std::string::npos) break;
    std::this_thread::sleep_for(25ms);
  }
  auto [code, out] = runCommand(report + " --judge-cache " + dir + "/judge.sqlite 2>&1");
  INFO(out);
  CHECK(code == 100);
  rapidjson::Document doc;
  doc.Parse(out.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  const rapidjson::Value* support = group(doc, "support");
  REQUIRE(support);
  const rapidjson::Value* judge = signal(*support, "judge_score");
  REQUIRE(judge);
  CHECK(std::string((*judge)["status"].GetString()) == "drifted");
  CHECK((*judge)["baseline"].GetDouble() == Approx(0.9));
  CHECK((*judge)["current"].GetDouble() == Approx(0.3));
  CHECK((*judge)["baseline_n"].GetUint64() == 40);
  CHECK(out.find("80 answers graded, 0 from the cache") != std::string::npos);

  // Again: every grade from the cache, no judge call reaches the upstream.
  std::string stats_before;
  up.get("/_control/stats", &stats_before);
  auto [again_code, again] = runCommand(report + " --judge-cache " + dir + "/judge.sqlite 2>&1");
  INFO(again);
  CHECK(again_code == 100);
  CHECK(again.find("0 answers graded, 80 from the cache, $0.000000 spent") != std::string::npos);
  std::string stats_after;
  up.get("/_control/stats", &stats_after);
  CHECK(stats_after == stats_before);

  // A budget of a few answers' cost: judging stops there, and the report says what was left.
  REQUIRE(up.script("[" + verdict(80, 0.9) + "]"));
  auto [budget_code, budgeted] =
      runCommand(report + " --judge-cache " + dir + "/fresh.sqlite --judge-budget-usd 0.002 2>&1");
  INFO(budgeted);
  CHECK(budgeted.find("the judge budget of $0.0020 was spent") != std::string::npos);
  rapidjson::Document limited;
  limited.Parse(budgeted.c_str());
  REQUIRE_FALSE(limited.HasParseError());
  const rapidjson::Value* thin = signal(*group(limited, "support"), "judge_score");
  REQUIRE(thin);
  CHECK(std::string((*thin)["status"].GetString()) == "insufficient");
  CHECK((*thin)["baseline_n"].GetUint64() < 40);

  // --follow: a report a second (one line each), the gauges rewritten each round, the grades
  // from the cache so the day's spend stays where it was.
  std::string follow = report.substr(0, report.find(" --json")) + report.substr(report.find(" --json") + 7);
  auto [follow_code, rounds] = runCommand("timeout 2.5 " + follow + " --judge-cache " + dir + "/judge.sqlite --follow 1 --prometheus " +
                                          dir + "/live.prom 2>&1");
  INFO(rounds);
  CHECK(follow_code == 124);  // still running when stopped
  CHECK(rounds.find("round 1: drift yes, 1 groups, 0 events, judge spent $0.000000 today") != std::string::npos);
  CHECK(rounds.find("round 2: drift yes") != std::string::npos);
  std::ifstream live(dir + "/live.prom");
  std::string gauges((std::istreambuf_iterator<char>(live)), std::istreambuf_iterator<char>());
  CHECK(gauges.find("outrigger_drift_signal_status{prompt=\"faq@1\",route=\"support\",signal=\"judge_score\"} 2") !=
        std::string::npos);
}
