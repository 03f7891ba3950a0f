// limiter.budget through the real daemon and the scripted upstream, on a priced model
// (openai/gpt-4o-mini: 1.5e-7 USD per input token, 6e-7 per output token): refusal once spent,
// typed and with the reset time, on the socket and on the HTTP front (429); 64 requests at once
// against a small budget; the spent amount in the SQLite file and across a restart.
#include <catch2/catch.hpp>

#include <curl/curl.h>
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include <outrigger/client.h>

#include "budget_window.h"
#include "support/admin_metrics.h"
#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "support/socket_answer.h"
#include "curl_call.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;
using namespace std::chrono_literals;

namespace {

constexpr double kInput = 1.5e-7, kOutput = 6e-7;  // gpt-4o-mini
// Every answer: 1000 prompt and 1000 completion tokens.
constexpr double kAnswerUsd = 1000 * kInput + 1000 * kOutput;
constexpr const char* kUsage = R"("usage":{"prompt_tokens":1000,"completion_tokens":1000,"total_tokens":2000})";


// The spent USD and the soft-threshold mark of `key` in the budget file, summed over its rows.
struct Stored {
  double usd = 0;
  int soft_warned = 0;
  int rows = 0;
};

Stored stored(const std::string& path, const std::string& key) {
  Stored s;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT usd, soft_warned FROM budget_spend WHERE budget = 'spend' AND key = ?1", -1, &q,
                             nullptr) == SQLITE_OK);
  sqlite3_bind_text(q, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(q) == SQLITE_ROW) {
    s.usd += sqlite3_column_double(q, 0);
    s.soft_warned = std::max(s.soft_warned, sqlite3_column_int(q, 1));
    ++s.rows;
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return s;
}

// The daemon with a USD budget per tenant on the default route; the HTTP front's virtual key
// "vk-acme" is the tenant "acme".
struct BudgetRig {
  UpstreamProcess& up;
  std::string db;
  std::unique_ptr<DaemonProcess> daemon;
  int http = 0;

  // `budget_extra`: more lines of the budget's config (or tables after it); `route_extra`: of the route's.
  BudgetRig(UpstreamProcess& upstream, const std::string& db_path, double limit_usd, const std::string& budget_extra = "",
            const std::string& route_extra = "")
      : up(upstream), db(db_path) {
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    daemon = std::make_unique<DaemonProcess>(
        daemonHead() + openaiInstance("openai", up.baseUrl()) +
        "[instances.spend]\ntype = \"limiter.budget\"\n[instances.spend.config]\nwindow = \"daily\"\n" +
        "limit_usd = " + std::to_string(limit_usd) + "\npath = \"" + db + "\"\nflush_interval_ms = 50\n" + budget_extra +
        "[http]\nlisten = [\"127.0.0.1:0\"]\n[[http.virtual_keys]]\nkey = \"vk-acme\"\ntenant = \"acme\"\n"
        "[routes.default]\nexporters = [\"records\"]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\nlimiters = [\"spend\"]\n" +
        route_extra);
    REQUIRE(daemon->waitReady());
    http = boundPort(*daemon, "OpenAI-compatible API");
    REQUIRE(http != 0);
  }
  void stop() {
    daemon->signal(SIGTERM);
    REQUIRE(daemon->waitExit(10s) == 0);
  }
};

client::ChatRequest asAcme(uint32_t max_tokens = 100) {
  auto r = ask("hello");
  client::Metadata m;
  m.tenant = "acme";
  r.metadata = m;
  r.max_tokens = max_tokens;
  return r;
}

// How `n` copies of `request`, started at once, ended.
struct Outcomes {
  int answered = 0, exhausted = 0;
};
Outcomes startAtOnce(client::Client& c, int n, const client::ChatRequest& request) {
  std::mutex mu;
  std::condition_variable cv;
  int ended = 0;
  Outcomes out;
  for (int i = 0; i < n; ++i) {
    client::CallEvents events;
    events.on_end = [&](const client::Result<client::Response>& r) {
      std::lock_guard<std::mutex> lock(mu);
      ++ended;
      if (r.ok()) ++out.answered;
      else if (r.error().code == StatusCode::kResourceExhausted) ++out.exhausted;
      cv.notify_all();
    };
    c.start(request, std::move(events), false);
  }
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, 30s, [&] { return ended == n; }));
  return out;
}

// Tomorrow's midnight, UTC, as the refusal names it.
std::string nextReset() {
  using namespace std::chrono;
  int64_t now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  budget::WindowSpec daily{budget::WindowKind::kDaily, 0};
  return budget::isoUtc(daily.expiresMs(daily.bucketStart(now)));
}

}  // namespace

TEST_CASE("budget via daemon: a USD budget refuses once spent, naming the budget, the tenant and the reset, on both fronts") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  REQUIRE(up.script(std::string(R"([{"model":"gpt-4o-mini","repeat":10,)") + kUsage + "}]"));
  BudgetRig rig(up, makeTempDir() + "/budget.db", 2.5 * kAnswerUsd,
                "soft_percent = 50\n[admin]\nlisten = \"127.0.0.1:0\"\n");
  client::Client c(at(*rig.daemon));

  // Two answers fit, and the third's worst case (100 output tokens) still does; after it the
  // tenant has spent more than its budget.
  for (int i = 0; i < 3; ++i) REQUIRE(c.chat(asAcme()).ok());
  auto refused = c.chat(asAcme());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == StatusCode::kResourceExhausted);
  CHECK(refused.error().origin == "limiter/spend");
  CHECK(refused.error().message.find("budget \"spend\" (daily, ") != std::string::npos);
  CHECK(refused.error().message.find("for tenant \"acme\": ") != std::string::npos);
  std::string reset = nextReset();
  CHECK(refused.error().message.find("resets at " + reset) != std::string::npos);
  CHECK(refused.error().retry_after_ms > 0);
  CHECK(refused.error().retry_after_ms <= 86400000u);

  // Another tenant has its own budget.
  auto other = asAcme();
  other.metadata->tenant = "globex";
  CHECK(c.chat(other).ok());

  // The HTTP front: the virtual key is the tenant "acme", refused with 429 and the retry time.
  CurlReply over_http = curlCall("http://127.0.0.1:" + std::to_string(rig.http) + "/v1/chat/completions",
                               R"({"model":"default","max_tokens":100,"messages":[{"role":"user","content":"hi"}]})",
                               {"authorization: Bearer vk-acme"});
  const std::string& head = over_http.head;
  CHECK(over_http.status == 429);
  std::smatch m;
  REQUIRE(std::regex_search(head, m, std::regex("retry-after-ms: (\\d+)", std::regex::icase)));
  CHECK(std::stoll(m[1]) > 0);
  CHECK(std::regex_search(head, std::regex("retry-after: \\d+", std::regex::icase)));
  CHECK(parseJson(up.log()).Size() == 4);  // three for acme, one for globex; no refused request

  // /metrics shows each key's spending and what it has left, through the plugin metrics slot.
  const std::string spend = "{plugin_instance=\"spend\",";
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_limit" + spend + "unit=\"usd\"}") == Approx(2.5 * kAnswerUsd));
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_spent" + spend + "key=\"acme\",unit=\"usd\"}") ==
        Approx(3 * kAnswerUsd));
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_remaining" + spend + "key=\"acme\",unit=\"usd\"}") == 0);
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_remaining" + spend + "key=\"globex\",unit=\"usd\"}") ==
        Approx(1.5 * kAnswerUsd));
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_used_ratio" + spend + "key=\"acme\"}") == Approx(1.2));
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_used_ratio" + spend + "key=\"globex\"}") == Approx(0.4));
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_refusals_total{plugin_instance=\"spend\"}") == 2);
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_soft_crossings_total{plugin_instance=\"spend\"}") == 1);
  CHECK(adminMetric(*rig.daemon, "outrigger_budget_keys{plugin_instance=\"spend\"}") == 2);
  CHECK(adminMetric(*rig.daemon, "outrigger_plugin_metric_samples_dropped") == 0);

  // Crossing the soft threshold (50%) was logged once and marked in the file.
  std::string log = rig.daemon->log();
  size_t first = log.find("tenant \"acme\" crossed its soft threshold of 50% (0.0015 of 0.001875 USD)");
  CHECK(first != std::string::npos);
  CHECK(log.find("tenant \"acme\" crossed", first + 1) == std::string::npos);
  rig.stop();
  Stored s = stored(rig.db, "acme");
  CHECK(s.usd == Approx(3 * kAnswerUsd).epsilon(0).margin(1e-12));
  CHECK(s.soft_warned == 1);
}

TEST_CASE("budget via daemon: 64 requests at once overspend a small budget by at most one request's cost") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  // Slow answers, so every request is admitted (or not) while the others are in flight.
  // Each answer costs about its worst case: the 2-token prompt and all 1000 output tokens.
  REQUIRE(up.script(R"([{"model":"gpt-4o-mini","repeat":64,"delay_ms":300,
    "usage":{"prompt_tokens":2,"completion_tokens":1000,"total_tokens":1002}}])"));
  const double answer = 2 * kInput + 1000 * kOutput;
  const double limit = 10 * answer;
  BudgetRig rig(up, makeTempDir() + "/budget.db", limit);
  client::Client c(at(*rig.daemon));

  // 1000 output tokens allowed: the worst case is about one answer's real cost.
  auto [answered, exhausted] = startAtOnce(c, 64, asAcme(1000));
  CHECK(answered + exhausted == 64);
  CHECK(answered >= 9);   // the budget was used, not refused wholesale
  CHECK(answered <= 11);  // at most one answer past the budget
  rig.stop();
  Stored s = stored(rig.db, "acme");
  CHECK(s.usd == Approx(answered * answer).epsilon(0).margin(1e-12));
  CHECK(s.usd <= limit + answer + 1e-12);
}

TEST_CASE("budget via daemon: requests that re-ask reserve every attempt, so 64 at once still overspend by at most one") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  // Prose where a JSON object is required: every request is re-asked once, two billed attempts.
  REQUIRE(up.script(R"([{"model":"gpt-4o-mini","repeat":128,"delay_ms":300,
    "usage":{"prompt_tokens":2,"completion_tokens":1000,"total_tokens":1002}}])"));
  const double answer = 2 * kInput + 1000 * kOutput;
  const double limit = 10 * answer;
  BudgetRig rig(up, makeTempDir() + "/budget.db", limit,
                "[instances.structured]\ntype = \"guardrail.json\"\n[instances.structured.config]\n"
                "schema = { type = \"object\" }\n",
                "guardrails = [\"structured\"]\nmax_reasks = 1\n");
  client::Client c(at(*rig.daemon));
  CHECK(startAtOnce(c, 64, asAcme(1000)).exhausted >= 50);
  rig.stop();
  Stored s = stored(rig.db, "acme");
  CHECK(s.usd > 0);
  // Reserving one attempt a request let 10 in, which spent 20 answers.
  CHECK(s.usd <= limit + 2 * answer + 1e-12);
}

TEST_CASE("budget via daemon: a budget smaller than every attempt together still admits a request one attempt fits in") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  REQUIRE(up.script(R"([{"model":"gpt-4o-mini","text":"{\"ok\":true}",
    "usage":{"prompt_tokens":2,"completion_tokens":1000,"total_tokens":1002}}])"));
  const double answer = 2 * kInput + 1000 * kOutput;
  // Room for one attempt's worst case, not for the re-ask the route may make on top.
  BudgetRig rig(up, makeTempDir() + "/budget.db", 1.5 * answer,
                "[instances.structured]\ntype = \"guardrail.json\"\n[instances.structured.config]\n"
                "schema = { type = \"object\" }\n",
                "guardrails = [\"structured\"]\nmax_reasks = 1\n");
  client::Client c(at(*rig.daemon));
  auto r = c.chat(asAcme(1000));
  INFO((r.ok() ? std::string() : r.error().message));
  CHECK(r.ok());
  // One attempt over the whole budget never fits: refused for good, not "retry later".
  auto too_big = c.chat(asAcme(100000));
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.error().code == StatusCode::kFailedPrecondition);
}

TEST_CASE("budget via daemon: the spent amount survives a restart of the daemon") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  REQUIRE(up.script(std::string(R"([{"model":"gpt-4o-mini","repeat":10,)") + kUsage + "}]"));
  std::string db = makeTempDir() + "/budget.db";
  {
    BudgetRig first(up, db, 1.5 * kAnswerUsd);
    client::Client c(at(*first.daemon));
    REQUIRE(c.chat(asAcme()).ok());
    first.stop();
  }
  CHECK(stored(db, "acme").usd == Approx(kAnswerUsd).epsilon(0).margin(1e-12));
  BudgetRig second(up, db, 1.5 * kAnswerUsd);
  client::Client c(at(*second.daemon));
  REQUIRE(c.chat(asAcme()).ok());  // half a budget left: one more
  auto refused = c.chat(asAcme());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == StatusCode::kResourceExhausted);
  CHECK(refused.error().message.find("resets at " + nextReset()) != std::string::npos);
  second.stop();
  CHECK(stored(db, "acme").usd == Approx(2 * kAnswerUsd).epsilon(0).margin(1e-12));
}

TEST_CASE("budget via daemon: a request whose attempts failed gives its reservation back and costs nothing") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  REQUIRE(up.script(std::string(R"([{"fault":"status","code":500,"repeat":5},{"model":"gpt-4o-mini",)") + kUsage + "}]"));
  // Room for one worst case (1000 output tokens) only: a reservation kept would refuse the next.
  BudgetRig rig(up, makeTempDir() + "/budget.db", 1.1 * kAnswerUsd, "default_max_output_tokens = 1000\n");
  client::Client c(at(*rig.daemon));
  auto failed = c.chat(asAcme(1000));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().origin != "limiter/spend");
  for (int i = 0; i < 5 && parseJson(up.log()).Size() < 5; ++i) REQUIRE_FALSE(c.chat(asAcme(1000)).ok());
  REQUIRE(c.chat(asAcme(1000)).ok());
  rig.stop();
  CHECK(stored(rig.db, "acme").usd == Approx(kAnswerUsd).epsilon(0).margin(1e-12));
}

TEST_CASE("budget via daemon: a stream the client cancels mid-answer is charged its whole reservation") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  // Six chunks 300 ms apart: the client cancels after the first, the upstream has begun its work.
  REQUIRE(up.script(std::string(R"([{"model":"gpt-4o-mini","text":"one two three four five six","pieces":6,"gap_ms":300,)") +
                    kUsage + "}]"));
  BudgetRig rig(up, makeTempDir() + "/budget.db", 100 * kAnswerUsd, "default_max_output_tokens = 1000\n");
  client::Client c(at(*rig.daemon));
  client::Stream s = c.stream(asAcme(1000));
  client::Chunk chunk;
  REQUIRE(s.next(&chunk));
  s.cancel();
  while (s.next(&chunk)) {
  }
  CHECK_FALSE(s.result().ok());
  rig.stop();
  // The end settles the attempt it cut short with the reservation it held (1000 output tokens and
  // the prompt's estimate); the limiter once found no admission at the end and charged nothing.
  CHECK(stored(rig.db, "acme").usd >= 1000 * kOutput);
}

// A server that ignores include_usage answers with no usage at all: the answer was billed, but
// the budget charged nothing and never ran out.
TEST_CASE("budget via daemon: an answer that reports no usage is charged its reservation") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  REQUIRE(up.script(R"([{"model":"gpt-4o-mini","usage":null,"repeat":3}])"));
  BudgetRig rig(up, makeTempDir() + "/budget.db", 100 * kAnswerUsd, "default_max_output_tokens = 1000\n");
  client::Client c(at(*rig.daemon));
  REQUIRE(c.chat(asAcme(1000)).ok());
  rig.stop();
  CHECK(stored(rig.db, "acme").usd >= 1000 * kOutput);
}

// A tag budget keys an untagged request by its tenant's empty key: one tenant's untagged
// spending once used up every other tenant's untagged budget.
TEST_CASE("budget via daemon: a tag budget keeps untagged requests of each tenant apart") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  REQUIRE(up.script(std::string(R"([{"model":"gpt-4o-mini","repeat":10,)") + kUsage + "}]"));
  BudgetRig rig(up, makeTempDir() + "/budget.db", 1.5 * kAnswerUsd, "key = \"tag:project\"\n");
  client::Client c(at(*rig.daemon));
  REQUIRE(c.chat(asAcme()).ok());
  REQUIRE(c.chat(asAcme()).ok());  // acme's untagged spending is over its budget now
  auto refused = c.chat(asAcme());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == StatusCode::kResourceExhausted);
  auto other = asAcme();
  other.metadata->tenant = "globex";
  auto r = c.chat(other);
  INFO((r.ok() ? std::string() : r.error().message));
  CHECK(r.ok());
  rig.stop();
  CHECK(stored(rig.db, "acme/").usd == Approx(2 * kAnswerUsd).epsilon(0).margin(1e-12));
  CHECK(stored(rig.db, "globex/").usd == Approx(kAnswerUsd).epsilon(0).margin(1e-12));
}

TEST_CASE("budget via daemon: a USD budget refuses a model without a price unless told to allow it") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  auto config = [&](const std::string& policy) {
    return daemonHead() + openaiInstance("openai", up.baseUrl()) +
           "[instances.spend]\ntype = \"limiter.budget\"\n[instances.spend.config]\nwindow = \"monthly\"\nlimit_usd = 1.0\n" +
           policy + "[routes.default]\nprovider = \"openai\"\nmodel = \"in-house-7b\"\nlimiters = [\"spend\"]\n";
  };
  {
    DaemonProcess d(config(""));
    REQUIRE(d.waitReady());
    auto r = client::Client(at(d)).chat(asAcme());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StatusCode::kFailedPrecondition);
    CHECK(r.error().message.find("has no price") != std::string::npos);
  }
  DaemonProcess d(config("unpriced = \"allow\"\n"));
  REQUIRE(d.waitReady());
  CHECK(client::Client(at(d)).chat(asAcme()).ok());
}

namespace {

// limiter.loop_guard on the default route: two repeats and four calls per session in ten minutes.
std::string loopGuardConfig(const UpstreamProcess& up) {
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  return daemonHead() + openaiInstance("openai", up.baseUrl()) +
         "[instances.loops]\ntype = \"limiter.loop_guard\"\n[instances.loops.config]\nwindow_seconds = 600\n"
         "max_repeats = 2\nmax_calls = 4\n"
         "[admin]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = [\"127.0.0.1:0\"]\n"
         "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\nlimiters = [\"loops\"]\n";
}

}  // namespace

TEST_CASE("loop guard via daemon: the same request repeated in a session is refused naming the rule, on both fronts, and counted") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  DaemonProcess d(loopGuardConfig(up));
  REQUIRE(d.waitReady());
  int http = boundPort(d, "OpenAI-compatible API"), admin = boundPort(d, "admin endpoints");
  REQUIRE(http != 0);
  client::Client c(at(d));
  // The HTTP front's callers without a key are the tenant "default": so are these.
  auto inSession = [](const std::string& session, const std::string& text) {
    auto r = ask(text);
    client::Metadata m;
    m.tenant = "default";
    m.session = session;
    r.metadata = m;
    return r;
  };
  REQUIRE(c.chat(inSession("agent-1", "same step")).ok());
  REQUIRE(c.chat(inSession("agent-1", "same step")).ok());
  auto third = c.chat(inSession("agent-1", "same step"));
  REQUIRE_FALSE(third.ok());
  CHECK(third.error().code == StatusCode::kResourceExhausted);
  CHECK(third.error().origin == "limiter/loops");
  CHECK(third.error().message ==
        "loop guard: session \"default/agent-1\" sent the same request 2 times in 600 s (max_repeats 2)");
  CHECK(third.error().retry_after_ms > 590000);
  CHECK(c.chat(inSession("agent-2", "same step")).ok());    // another session
  // Another tenant's session of the same name is its own: these repeats never refuse it.
  auto elsewhere = inSession("agent-1", "same step");
  elsewhere.metadata->tenant = "globex";
  CHECK(c.chat(elsewhere).ok());
  CHECK(c.chat(inSession("agent-1", "another step")).ok());  // another request: the 3rd call of 4
  CHECK(c.chat(inSession("agent-1", "a fourth step")).ok());

  // The same session over HTTP (x-outrigger-session): its fifth call trips max_calls, a 429.
  CurlReply fifth = curlCall("http://127.0.0.1:" + std::to_string(http) + "/v1/chat/completions",
                             R"({"model":"default","messages":[{"role":"user","content":"fifth"}]})",
                             {"x-outrigger-session: agent-1"});
  const std::string &head = fifth.head, &out = fifth.body;
  long code = fifth.status;
  CHECK(code == 429);
  CHECK(out.find("(max_calls 4)") != std::string::npos);
  CHECK(std::regex_search(head, std::regex("retry-after-ms: \\d+", std::regex::icase)));

  // Both refusals are counted with the limiters' refusals on /metrics.
  std::string metrics = curlCall("http://127.0.0.1:" + std::to_string(admin) + "/metrics").body;
  CHECK(metrics.find("\noutrigger_limiter_refusals_total 2\n") != std::string::npos);
  // And by rule, with the keys the guard tracks, on its own series.
  CHECK(metrics.find(R"(outrigger_loop_guard_refusals_total{plugin_instance="loops",rule="max_repeats"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_loop_guard_refusals_total{plugin_instance="loops",rule="max_calls"} 1)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_loop_guard_keys{plugin_instance="loops"} 3)") != std::string::npos);
  CHECK(metrics.find(R"(outrigger_loop_guard_evictions_total{plugin_instance="loops"} 0)") != std::string::npos);
  CHECK(parseJson(up.log()).Size() == 6);  // two, one for agent-2, one for globex's agent-1, two more
}

// The repeat rule hashes each field with its length: a tool call getx({}) and one get(x{}) ran
// together into the same bytes, and an agent alternating them was refused as repeating itself.
TEST_CASE("limiter.loop_guard: requests that differ only where one field ends and the next begins are not repeats") {
  UpstreamProcess up;
  REQUIRE(up.ready());
  DaemonProcess d(loopGuardConfig(up));
  REQUIRE(d.waitReady());
  int http = boundPort(d, "OpenAI-compatible API");
  REQUIRE(http != 0);
  auto call = [&](const std::string& name, const std::string& arguments) {
    std::string body = R"({"model":"default","messages":[{"role":"user","content":"go"},)"
                       R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":")" +
                       name + R"(","arguments":)" + jsonQuoted(arguments) + R"(}}]},)"
                       R"({"role":"tool","tool_call_id":"c1","content":"ok"}]})";
    return curlCall("http://127.0.0.1:" + std::to_string(http) + "/v1/chat/completions", body,
                    {"x-outrigger-session: alternating"}).status;
  };
  CHECK(call("getx", "{}") == 200);
  CHECK(call("get", "x{}") == 200);
  CHECK(call("getx", "{}") == 200);  // its second time: max_repeats is 2
  CHECK(call("getx", "{}") == 429);  // its third
}
