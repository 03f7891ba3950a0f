// Rate and concurrency limits through the real daemon: waiting in the route's bounded queue
// instead of failing fast, and tokens-per-minute charged from the prompt's estimate up front and
// settled to the answer's usage, per target and per tenant. Timing is read from the upstream's
// request log.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "daemon_rig.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;
using namespace std::chrono_literals;

namespace {

// A usage report large enough to leave the 6000-token bucket about 50 tokens in debt: at
// 100 tokens a second the next request's 2-token estimate fits again after about 0.5 s.
constexpr const char* kDrainingAnswer =
    R"([{"usage":{"prompt_tokens":6050,"completion_tokens":0,"total_tokens":6050}}])";

// A usage report that leaves the same bucket 1000 tokens in debt: about 10 s before it fits again,
// more than a busy machine can put between two requests.
constexpr const char* kDeepDebtAnswer =
    R"([{"usage":{"prompt_tokens":7000,"completion_tokens":0,"total_tokens":7000}}])";

// Waits until the upstream has seen `n` requests (it logs each as it arrives): a request started
// on another thread holds what it was sent to hold, however busy the machine.
bool awaitArrivals(UpstreamProcess& up, unsigned n) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (parseJson(up.log()).Size() >= n) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

struct OneTarget {
  UpstreamProcess up;
  std::unique_ptr<DaemonProcess> daemon;
  explicit OneTarget(const std::string& target_extra, const std::string& route_extra = "") {
    REQUIRE(up.ready());
    ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
    daemon = std::make_unique<DaemonProcess>(daemonHead() + openaiInstance("primary", up.baseUrl()) +
                                             "[routes.default]\nexporters = [\"records\"]\n"
                                             "targets = [{ provider = \"primary\", model = \"gpt-a\"" + target_extra +
                                             " }]\n" + route_extra);
    REQUIRE(daemon->waitReady());
  }
};

client::ChatRequest as(const std::string& tenant, const std::string& text = "hello") {
  auto r = ask(text);
  client::Metadata m;
  m.tenant = tenant;
  r.metadata = m;
  return r;
}

double arrival(const rapidjson::Document& log, unsigned i) { return log[i]["t"].GetDouble(); }

}  // namespace

TEST_CASE("limits via daemon: by default a request over its target's tokens per minute fails fast, typed") {
  OneTarget rig(", tpm = 6000");
  REQUIRE(rig.up.script(kDeepDebtAnswer));
  client::Client c(at(*rig.daemon));
  REQUIRE(c.chat(ask("hello")).ok());
  auto t0 = std::chrono::steady_clock::now();
  auto over = c.chat(ask("hello"));
  REQUIRE_FALSE(over.ok());
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // it did not wait the 10 s for the refill
  CHECK(over.error().code == StatusCode::kResourceExhausted);
  CHECK(over.error().retryable);
  CHECK(over.error().retry_after_ms >= 5000);
  CHECK(parseJson(rig.up.log()).Size() == 1);
}

TEST_CASE("limits via daemon: with on_limit = queue the request waits for the token refill, then reaches the upstream") {
  OneTarget rig(", tpm = 6000", "limits = { on_limit = \"queue\", queue_max = 4, queue_timeout_ms = 3000 }\n");
  REQUIRE(rig.up.script(kDrainingAnswer));
  {
    client::Client c(at(*rig.daemon));
    REQUIRE(c.chat(ask("hello")).ok());
    auto waited = c.chat(ask("hello"));
    REQUIRE(waited.ok());
  }
  auto log = parseJson(rig.up.log());
  REQUIRE(log.Size() == 2);
  double gap = arrival(log, 1) - arrival(log, 0);
  CHECK(gap >= 0.4);  // it waited for the bucket, it was not refused
  CHECK(gap < 2.0);   // and was woken by the refill timer, not by the queue timeout
  rig.daemon->signal(SIGTERM);
  REQUIRE(rig.daemon->waitExit(10s) == 0);
  auto lines = records(rig.daemon->dir());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("queued") == std::string::npos);
  CHECK(lines[1].find(R"("outcome":"queued )") != std::string::npos);
  CHECK(lines[1].find("admitted") != std::string::npos);
}

TEST_CASE("limits via daemon: a full queue fails fast, and the waiter gets the freed concurrency slot") {
  OneTarget rig(", max_concurrent = 1", "limits = { on_limit = \"queue\", queue_max = 1, queue_timeout_ms = 5000 }\n");
  REQUIRE(rig.up.script(R"([{"fault":"slow_first_byte","ms":2500}])"));
  std::optional<client::Result<client::Response>> first, second;
  std::thread a([&] { first.emplace(client::Client(at(*rig.daemon)).chat(ask("one"))); });
  REQUIRE(awaitArrivals(rig.up, 1));  // "one" holds the only slot for 2.5 s
  std::thread b([&] { second.emplace(client::Client(at(*rig.daemon)).chat(ask("two"))); });
  std::this_thread::sleep_for(500ms);  // "two" takes the one queue place
  auto t0 = std::chrono::steady_clock::now();
  auto third = client::Client(at(*rig.daemon)).chat(ask("three"));
  auto took = std::chrono::steady_clock::now() - t0;
  a.join();
  b.join();
  REQUIRE_FALSE(third.ok());
  CHECK(third.error().code == StatusCode::kResourceExhausted);
  CHECK(third.error().retryable);
  CHECK(took < 1000ms);  // queued, it would have waited about 2 s for the slot
  REQUIRE(first->ok());
  REQUIRE(second->ok());
  auto log = parseJson(rig.up.log());
  REQUIRE(log.Size() == 2);
  CHECK(arrival(log, 1) - arrival(log, 0) >= 2.45);  // only once the first attempt had finished
}

TEST_CASE("limits via daemon: a queued request never waits past the queue timeout") {
  OneTarget rig(", max_concurrent = 1", "limits = { on_limit = \"queue\", queue_max = 4, queue_timeout_ms = 200 }\n");
  REQUIRE(rig.up.script(R"([{"fault":"slow_first_byte","ms":1500}])"));
  std::thread a([&] { client::Client(at(*rig.daemon)).chat(ask("one")); });
  REQUIRE(awaitArrivals(rig.up, 1));  // "one" holds the only slot
  auto t0 = std::chrono::steady_clock::now();
  auto waited = client::Client(at(*rig.daemon)).chat(ask("two"));
  auto took = std::chrono::steady_clock::now() - t0;
  a.join();
  REQUIRE_FALSE(waited.ok());
  CHECK(waited.error().code == StatusCode::kResourceExhausted);
  CHECK(took >= 180ms);
  CHECK(took < 1000ms);  // it did not wait for the slot, which frees after about 1.4 s
  CHECK(parseJson(rig.up.log()).Size() == 1);
}

TEST_CASE("limits via daemon: tenant TPM charges the prompt estimate up front and settles to the answer's usage") {
  // 300 bytes of prompt: an estimate of 75 tokens against 100 per minute for each tenant.
  std::string prompt(300, 'x');
  OneTarget rig("", "tenant_tpm = 100\n");
  REQUIRE(rig.up.script(R"([{"fault":"status","code":400},
      {"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}},
      {"usage":{"prompt_tokens":150,"completion_tokens":50,"total_tokens":200}}])"));
  client::Client c(at(*rig.daemon));
  auto failed = c.chat(as("acme", prompt));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == StatusCode::kInvalidArgument);
  CHECK(c.chat(as("acme", prompt)).ok());  // the failed request gave its 75 back
  CHECK(c.chat(as("acme", prompt)).ok());  // this one used 10, not 75: 90 are left
  auto over = c.chat(as("acme", prompt));  // the last used 200: the tenant is in debt
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == StatusCode::kResourceExhausted);
  CHECK(over.error().retryable);
  CHECK(over.error().retry_after_ms > 60000);
  CHECK(over.error().message.find("token") != std::string::npos);
  CHECK(c.chat(as("globex", prompt)).ok());  // another tenant has its own bucket
  CHECK(parseJson(rig.up.log()).Size() == 4);
}

TEST_CASE("limits via daemon: a tenant pays for an answer the upstream produced even when a guardrail denies it") {
  std::string prompt(40, 'x');  // an estimate of 10 tokens against 100 per minute
  OneTarget rig("", "tenant_tpm = 100\nguardrails = [\"output_rules\"]\n"
                    "[instances.output_rules]\ntype = \"guardrail.rules\"\n[instances.output_rules.config]\n"
                    "deny_empty_output = true\n");
  REQUIRE(rig.up.script(R"([{"text":"","usage":{"prompt_tokens":150,"completion_tokens":0,"total_tokens":150}}])"));
  client::Client c(at(*rig.daemon));
  auto denied = c.chat(as("acme", prompt));
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().code == StatusCode::kPermissionDenied);  // the empty answer is denied
  auto next = c.chat(as("acme", prompt));                       // but its 150 tokens were spent
  REQUIRE_FALSE(next.ok());
  CHECK(next.error().code == StatusCode::kResourceExhausted);
  CHECK(next.error().message.find("token") != std::string::npos);
  CHECK(parseJson(rig.up.log()).Size() == 1);
}

TEST_CASE("limits via daemon: target TPM charges the estimate before the answer, so a concurrent request falls back") {
  UpstreamProcess primary, backup;
  REQUIRE(primary.ready());
  REQUIRE(backup.ready());
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-test", 1);
  DaemonProcess daemon(daemonHead() + openaiInstance("primary", primary.baseUrl()) +
                       openaiInstance("backup", backup.baseUrl()) +
                       "[routes.default]\ntargets = [{ provider = \"primary\", model = \"gpt-a\", tpm = 100 }, "
                       "{ provider = \"backup\", model = \"gpt-b\" }]\n");
  REQUIRE(daemon.waitReady());
  REQUIRE(primary.script(R"([{"fault":"slow_first_byte","ms":400,
      "usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}])"));
  std::string prompt(300, 'x');  // an estimate of 75 of the primary's 100
  std::optional<client::Result<client::Response>> first;
  std::thread a([&] { first.emplace(client::Client(at(daemon)).chat(ask(prompt))); });
  REQUIRE(awaitArrivals(primary, 1));  // charged before it was sent
  client::Client c(at(daemon));
  auto during = c.chat(ask(prompt));  // 25 left while the first is in flight: the backup
  a.join();
  REQUIRE(first->ok());
  CHECK(first->value().model == "gpt-a");
  REQUIRE(during.ok());
  CHECK(during.value().model == "gpt-b");
  auto after = c.chat(ask(prompt));  // the first used 10: 65 came back, the primary again
  REQUIRE(after.ok());
  CHECK(after.value().model == "gpt-a");
}
