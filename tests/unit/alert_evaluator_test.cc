// The alert evaluator over synthetic figures and a synthetic clock: windows, pending before
// firing, one notification per transition, repeats, and each rule kind's value; and the webhook
// sender's full queue, against a receiver on loopback.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "alerts/alert_evaluator.h"
#include "alerts/webhook_payload.h"
#include "alerts/webhook_sender.h"
#include "telemetry/request_meter.h"

#include <rapidjson/document.h>

using namespace outrigger;
using alerts::AlertInputs;
using alerts::Notification;

namespace {

config::AlertRuleSettings rule(const std::string& name, const std::string& kind, double threshold) {
  config::AlertRuleSettings r;
  r.name = name;
  r.kind = kind;
  r.threshold = threshold;
  if (kind == "cost") r.by = "tenant";
  return r;
}

alerts::AlertEvaluator evaluator(std::vector<config::AlertRuleSettings> rules, uint32_t repeat_s = 0) {
  return alerts::AlertEvaluator(std::move(rules), repeat_s, telemetry::kDurationBuckets);
}

AlertInputs costs(double acme, double globex) {
  AlertInputs in;
  in.cost[{"default", "acme", "m"}] = acme;
  in.cost[{"other", "acme", "m"}] = 0;
  in.cost[{"default", "globex", "m"}] = globex;
  return in;
}

// A webhook receiver on loopback, on its own thread: logs each POST's body and answers 200,
// one request per connection.
class Receiver {
 public:
  Receiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string in;
      char buf[4096];
      size_t head = std::string::npos, length = 0;
      while (head == std::string::npos || in.size() < head + 4 + length) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, size_t(n));
        if (head == std::string::npos && (head = in.find("\r\n\r\n")) != std::string::npos) {
          size_t at = in.find("content-length:");
          if (at == std::string::npos) at = in.find("Content-Length:");
          if (at != std::string::npos && at < head) length = std::stoul(in.substr(at + 15));
        }
      }
      if (head != std::string::npos) {
        std::lock_guard<std::mutex> lock(mu_);
        bodies_.push_back(in.substr(head + 4, length));
      }
      const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!::send(c, answer, sizeof answer - 1, MSG_NOSIGNAL);
      ::close(c);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

// Each body's status and fingerprint, "firing a" or "resolved b".
std::vector<std::string> delivered(const std::vector<std::string>& bodies) {
  std::vector<std::string> out;
  for (const std::string& b : bodies) {
    rapidjson::Document d;
    d.Parse(b.c_str());
    REQUIRE(d.IsObject());
    out.push_back(std::string(d["status"].GetString()) + " " + d["alerts"][0]["fingerprint"].GetString());
  }
  return out;
}

Notification note(const std::string& fingerprint, bool resolved) {
  Notification n;
  n.rule = "rule_" + fingerprint;
  n.resolved = resolved;
  n.labels = {{"alertname", n.rule}};
  n.fingerprint = fingerprint;
  n.ends_ms = resolved ? 1 : 0;
  return n;
}

// Sends `notes` to a fresh sender with `capacity` at once (the first is then in flight), runs
// the loop until `expect` bodies reached the receiver, and returns them and the counters.
std::vector<std::string> deliver(const std::vector<Notification>& notes, uint32_t capacity, size_t expect,
                                 alerts::WebhookCounters* counters, std::vector<std::string>* lost = nullptr) {
  Receiver receiver;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  config::AlertSettings settings;
  settings.webhook = receiver.url();
  settings.queue_capacity = capacity;
  {
    alerts::WebhookSender sender(&loop, settings);
    sender.onLost([lost](const std::string& fingerprint, bool resolved) {
      if (lost) lost->push_back((resolved ? "resolved " : "firing ") + fingerprint);
    });
    for (const Notification& n : notes) sender.send(alerts::webhookPayload(n, ""), n.fingerprint, n.resolved);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((sender.counters().delivered + sender.counters().failed < expect || sender.queued() > 0) &&
           std::chrono::steady_clock::now() < until) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    *counters = sender.counters();
    sender.shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  return delivered(receiver.bodies());
}

}  // namespace

TEST_CASE("alerts: a cost rule compares the window's increase, notifies once, and resolves once") {
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 60;
  auto e = evaluator({r});
  CHECK(e.evaluate(costs(0.5, 0.2), 0).empty());
  std::vector<Notification> fired = e.evaluate(costs(1.6, 0.4), 10'000);  // acme: +1.6 since the start
  REQUIRE(fired.size() == 1);
  CHECK_FALSE(fired[0].resolved);
  CHECK(fired[0].labels == alerts::Labels{{"alertname", "tenant_cost"}, {"severity", "warning"}, {"tenant", "acme"}});
  CHECK(fired[0].value == Approx(1.6));
  CHECK(fired[0].starts_ms == 10'000);
  CHECK(e.evaluate(costs(1.7, 0.4), 20'000).empty());  // still firing: no second notification
  REQUIRE(e.active().size() == 1);
  CHECK(e.active()[0].firing);
  // At 75 s the window starts after the 10 s snapshot: acme spent 0.1 since, below the threshold.
  std::vector<Notification> resolved = e.evaluate(costs(1.7, 0.4), 75'000);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].resolved);
  CHECK(resolved[0].ends_ms == 75'000);
  CHECK(resolved[0].fingerprint == fired[0].fingerprint);
  CHECK(e.evaluate(costs(1.7, 0.4), 80'000).empty());
  CHECK(e.active().empty());
}

// The system clock may step (an NTP correction, a VM resumed): windows, for_s and repeats are
// timed on the steady clock, and the wall clock only dates what receivers are told. On the wall
// clock alone, a step back of a minute made the window reach back past every snapshot, and the
// alert fired again on spending already resolved.
TEST_CASE("alerts: a step of the system clock neither fires an alert again nor fires one early") {
  constexpr int64_t kWall = 1'700'000'000'000;
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 60;
  auto e = evaluator({r});
  CHECK(e.evaluate(costs(0.5, 0.2), 0, kWall).empty());
  auto fired = e.evaluate(costs(1.6, 0.4), 10'000, kWall + 10'000);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].starts_ms == kWall + 10'000);
  auto resolved = e.evaluate(costs(1.7, 0.4), 75'000, kWall + 75'000);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].resolved);
  CHECK(resolved[0].ends_ms == kWall + 75'000);
  // The wall clock goes back 60 s, then on: no new spending, nothing to say.
  for (int64_t t = 76'000; t <= 200'000; t += 1000) CHECK(e.evaluate(costs(1.7, 0.4), t, kWall + t - 60'000).empty());
  CHECK(e.active().empty());

  // for_s on a forward step: still five minutes of the steady clock.
  auto held = rule("held", "cost", 1.0);
  held.for_s = 300;
  held.window_s = 3600;
  auto f = evaluator({held});
  CHECK(f.evaluate(costs(2, 0), 0, kWall).empty());
  CHECK(f.evaluate(costs(2, 0), 1000, kWall + 3600'000).empty());  // an hour ahead on the wall
  REQUIRE(f.active().size() == 1);
  CHECK_FALSE(f.active()[0].firing);
  CHECK(f.active()[0].active_since_wall_ms == kWall);
  auto late = f.evaluate(costs(2, 0), 300'000, kWall + 3600'000 + 299'000);
  REQUIRE(late.size() == 1);
  CHECK(late[0].starts_ms == kWall + 3600'000 + 299'000);
}

TEST_CASE("alerts: for_s keeps an alert pending, and a pending alert that ends sends nothing") {
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 3600;
  r.for_s = 30;
  auto e = evaluator({r});
  CHECK(e.evaluate(costs(2, 0), 0).empty());
  REQUIRE(e.active().size() == 1);
  CHECK_FALSE(e.active()[0].firing);
  CHECK(e.evaluate(costs(2, 0), 29'000).empty());
  auto fired = e.evaluate(costs(2, 0), 30'000);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].starts_ms == 30'000);

  auto pending_only = evaluator({r});
  CHECK(pending_only.evaluate(costs(2, 0), 0).empty());
  // The counter went back (a new process): the increase counts from zero, 0.5, below 1.
  CHECK(pending_only.evaluate(costs(0.5, 0), 10'000).empty());
  CHECK(pending_only.active().empty());
}

TEST_CASE("alerts: a firing alert is notified again after the repeat interval") {
  auto e = evaluator({rule("tenant_cost", "cost", 1.0)}, /*repeat_s=*/60);
  CHECK(e.evaluate(costs(2, 0), 0).size() == 1);
  CHECK(e.evaluate(costs(2, 0), 59'000).empty());
  auto again = e.evaluate(costs(2, 0), 60'000);
  REQUIRE(again.size() == 1);
  CHECK_FALSE(again[0].resolved);
  CHECK(again[0].starts_ms == 0);  // the same alert, not a new one
}

TEST_CASE("alerts: error rate and latency per route need min_requests, and the quantile interpolates like histogram_quantile") {
  auto errors = rule("errors", "error_rate", 0.2);
  errors.min_requests = 10;
  auto slow = rule("slow", "latency", 0.3);
  slow.min_requests = 10;
  auto e = evaluator({errors, slow});
  AlertInputs in;
  auto& r = in.routes["default"];
  r.requests = 9;
  r.errors = 9;
  r.buckets[8] = 9;  // (0.32, 0.64]
  CHECK(e.evaluate(in, 1000).empty());  // 9 requests: too few to judge
  r.requests = 20;
  r.errors = 5;      // 25%
  r.buckets[8] = 20;
  auto n = e.evaluate(in, 2000);
  REQUIRE(n.size() == 2);
  CHECK(n[0].rule == "errors");
  CHECK(n[0].value == Approx(0.25));
  CHECK(n[0].labels.at("route") == "default");
  CHECK(n[1].rule == "slow");
  // p95 of 20 requests in (0.32, 0.64]: 0.32 + 0.32 * 19/20.
  CHECK(n[1].value == Approx(0.32 + 0.32 * 0.95));
}

TEST_CASE("alerts: guardrail deny rate per route and guardrail, and budget use per budget and key") {
  auto e = evaluator({rule("denials", "guardrail_deny_rate", 0.1), rule("budget", "budget_used", 0.8)});
  AlertInputs in;
  in.routes["default"].requests = 10;
  in.denies[{"default", "pii"}] = 2;
  in.denies[{"default", "rules"}] = 1;
  in.budget_used[{"team_daily", "acme"}] = 0.85;
  in.budget_used[{"team_daily", "globex"}] = 0.5;
  auto n = e.evaluate(in, 1000);
  REQUIRE(n.size() == 2);
  CHECK(n[0].labels.at("guardrail") == "pii");
  CHECK(n[0].value == Approx(0.2));
  CHECK(n[1].labels == alerts::Labels{{"alertname", "budget"}, {"plugin_instance", "team_daily"}, {"key", "acme"}, {"severity", "warning"}});
}

TEST_CASE("alerts: the webhook body is Alertmanager's version 4 shape") {
  auto e = evaluator({rule("tenant_cost", "cost", 1.0)});
  auto n = e.evaluate(costs(2, 0), 1'700'000'000'123);
  REQUIRE(n.size() == 1);
  rapidjson::Document d;
  d.Parse(alerts::webhookPayload(n[0], "http://127.0.0.1:9464/alerts").c_str());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["version"].GetString()) == "4");
  CHECK(std::string(d["status"].GetString()) == "firing");
  CHECK(std::string(d["groupLabels"]["alertname"].GetString()) == "tenant_cost");
  const auto& a = d["alerts"][0];
  CHECK(std::string(a["labels"]["tenant"].GetString()) == "acme");
  CHECK(std::string(a["startsAt"].GetString()) == "2023-11-14T22:13:20.123Z");
  CHECK(std::string(a["endsAt"].GetString()) == "0001-01-01T00:00:00Z");  // no repeats: never ends by itself
  CHECK(std::string(a["annotations"]["threshold"].GetString()) == "1");
  CHECK(std::string(a["fingerprint"].GetString()).size() == 16);
}

TEST_CASE("alerts: a firing notification ends after the next repeat and four evaluations, so a lost resolve expires") {
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 86400;
  auto e = alerts::AlertEvaluator({r}, /*repeat_interval_s=*/3600, telemetry::kDurationBuckets,
                                  /*evaluate_every_ms=*/15000);
  auto n = e.evaluate(costs(2, 0), 1'700'000'000'123);
  REQUIRE(n.size() == 1);
  CHECK(n[0].ends_ms == 1'700'000'000'123 + 3600'000 + 4 * 15000);
  rapidjson::Document d;
  d.Parse(alerts::webhookPayload(n[0], "").c_str());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["alerts"][0]["endsAt"].GetString()) == "2023-11-14T23:14:20.123Z");
  // The repeat moves it on; the resolve ends it when it ended.
  auto again = e.evaluate(costs(2, 0), 1'700'003'600'123);
  REQUIRE(again.size() == 1);
  CHECK(again[0].ends_ms == 1'700'003'600'123 + 3600'000 + 4 * 15000);
  auto resolved = e.evaluate(costs(0.5, 0), 1'700'003'615'123);  // the counter started again
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].resolved);
  CHECK(resolved[0].ends_ms == 1'700'003'615'123);
}

TEST_CASE("alerts: a repeat the webhook lost and sent again reaches the receiver before the last endsAt") {
  config::AlertSettings defaults;
  const int64_t delivery = alerts::WebhookSender::longestDeliveryMs(defaults);
  CHECK(delivery == 6 * 5000 + (1 + 2 + 4 + 8 + 16) * 1000);
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 86400;
  auto e = alerts::AlertEvaluator({r}, /*repeat_interval_s=*/3600, telemetry::kDurationBuckets,
                                  /*evaluate_every_ms=*/15000, delivery);
  auto first = e.evaluate(costs(2, 0), 0);
  REQUIRE(first.size() == 1);
  const int64_t receiver_ends = first[0].ends_ms;  // what the receiver holds until a repeat lands
  // Evaluations every 15 s; the repeat is made one evaluation late, every attempt to send it
  // fails, and the webhook reports it lost when they are spent.
  int64_t repeat_at = 0, resent_at = 0;
  for (int64_t now = 15000; now <= 5 * 3600'000 && !resent_at; now += 15000) {
    auto n = e.evaluate(costs(2, 0), now);
    if (n.empty()) continue;
    REQUIRE(n.size() == 1);
    if (!repeat_at) {
      repeat_at = now + 15000;
      e.undelivered(n[0].fingerprint, false, repeat_at + delivery);
    } else {
      resent_at = now;
    }
  }
  REQUIRE(resent_at > 0);
  // Sent again, its own attempts may take as long once more: still before the receiver's end.
  CHECK(resent_at + delivery <= receiver_ends);
}

TEST_CASE("alerts: a fingerprint resolved again is remembered as the newest, so its lost resolve is still sent again") {
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 60;
  auto e = evaluator({r});
  std::map<std::string, double> spent{{"a", 2}};
  auto inputs = [&] {
    AlertInputs in;
    for (const auto& [tenant, usd] : spent) in.cost[{"default", tenant, "m"}] = usd;
    return in;
  };
  std::string fp_a;
  auto step = [&](int64_t now) {
    for (const auto& n : e.evaluate(inputs(), now)) {
      if (n.labels.at("tenant") == "a") fp_a = n.fingerprint;
    }
  };
  step(0);        // a fires
  step(100'000);  // and resolves
  for (int i = 0; i < 1023; ++i) spent["t" + std::to_string(i)] = 2;
  step(200'000);  // 1,023 others fire
  step(300'000);  // and resolve: the remembered resolves are full
  spent["a"] = 4;
  step(400'000);  // a fires again
  step(500'000);  // and resolves again: the newest resolve remembered
  spent["new"] = 2;
  step(600'000);
  step(700'000);  // one more resolve: the oldest remembered is forgotten, which is not a's
  REQUIRE_FALSE(fp_a.empty());
  e.undelivered(fp_a, true, 700'000);
  bool resent = false;
  for (const auto& n : e.evaluate(inputs(), 760'000)) resent |= n.resolved && n.fingerprint == fp_a;
  CHECK(resent);
}

TEST_CASE("alerts: with the webhook queue full, a resolved notification takes a waiting firing one's place") {
  alerts::WebhookCounters c;
  // Capacity 2: a in flight, b waiting. Resolving a drops the oldest waiting firing one (b, which
  // the receiver then never hears of); b's resolve finds nothing firing to replace and is dropped.
  std::vector<std::string> lost;
  CHECK(deliver({note("a", false), note("b", false), note("a", true), note("b", true)}, 2, 2, &c, &lost) ==
        std::vector<std::string>{"firing a", "resolved a"});
  CHECK(c.delivered == 2);
  CHECK(c.dropped == 2);
  CHECK(lost == std::vector<std::string>{"firing b", "resolved b"});  // told, to be sent again later
  // Capacity 3: c's resolve replaces c's own firing notification, not the older b.
  CHECK(deliver({note("a", false), note("b", false), note("c", false), note("c", true)}, 3, 3, &c) ==
        std::vector<std::string>{"firing a", "firing b", "resolved c"});
  CHECK(c.dropped == 1);
  // Firing notifications past the capacity are dropped as before.
  CHECK(deliver({note("a", false), note("b", false), note("c", false)}, 2, 2, &c) ==
        std::vector<std::string>{"firing a", "firing b"});
  CHECK(c.dropped == 1);
}

TEST_CASE("alerts: a notification whose attempts are all spent is reported lost, one a 4xx refused is not") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  config::AlertSettings settings;
  settings.max_attempts = 1;
  int closed = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // bound, never listening: refused
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(closed, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::getsockname(closed, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  settings.webhook = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/hook";
  std::vector<std::string> lost;
  {
    alerts::WebhookSender sender(&loop, settings);
    sender.onLost([&](const std::string& fingerprint, bool resolved) {
      lost.push_back((resolved ? "resolved " : "firing ") + fingerprint);
    });
    sender.send(alerts::webhookPayload(note("a", false), ""), "a", false);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (sender.counters().failed == 0 && std::chrono::steady_clock::now() < until) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(sender.counters().failed == 1);
    sender.shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  ::close(closed);
  uv_loop_close(&loop);
  CHECK(lost == std::vector<std::string>{"firing a"});
}

TEST_CASE("alerts: a lost notification is sent again a minute later if it still holds, without repeats") {
  auto e = evaluator({rule("tenant_cost", "cost", 1.0)}, /*repeat_s=*/0);
  auto fired = e.evaluate(costs(2, 0), 0);
  REQUIRE(fired.size() == 1);
  const std::string fp = fired[0].fingerprint;
  e.undelivered(fp, false, 1'000);
  CHECK(e.evaluate(costs(2, 0), 60'000).empty());
  auto again = e.evaluate(costs(2, 0), 61'000);
  REQUIRE(again.size() == 1);
  CHECK_FALSE(again[0].resolved);
  CHECK(again[0].fingerprint == fp);
  CHECK(again[0].starts_ms == 0);
  CHECK(e.evaluate(costs(2, 0), 200'000).empty());  // once: no repeats configured

  // The resolve is lost too: sent again a minute on, once.
  auto resolved = e.evaluate(costs(0, 0), 3'700'000);  // the counter started again
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].resolved);
  e.undelivered(fp, true, 3'700'000);
  CHECK(e.evaluate(costs(0, 0), 3'759'000).empty());
  auto resolved_again = e.evaluate(costs(0, 0), 3'760'000);
  REQUIRE(resolved_again.size() == 1);
  CHECK(resolved_again[0].resolved);
  CHECK(resolved_again[0].fingerprint == fp);
  CHECK(resolved_again[0].ends_ms == resolved[0].ends_ms);
  CHECK(e.evaluate(costs(0, 0), 3'900'000).empty());
}

TEST_CASE("alerts: a lost notification that no longer holds is not sent again") {
  auto e = evaluator({rule("tenant_cost", "cost", 1.0)}, /*repeat_s=*/0);
  auto fired = e.evaluate(costs(2, 0), 0);
  REQUIRE(fired.size() == 1);
  const std::string fp = fired[0].fingerprint;
  // The firing notification is lost, then the alert resolves: the resolve alone goes.
  e.undelivered(fp, false, 1'000);
  auto resolved = e.evaluate(costs(0, 0), 3'700'000);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].resolved);
  // The resolve is lost, then the alert fires again before its resend: the new firing one goes,
  // and the stale resolve does not follow it.
  e.undelivered(fp, true, 3'700'000);
  auto refired = e.evaluate(costs(5, 0), 3'710'000);
  REQUIRE(refired.size() == 1);
  CHECK_FALSE(refired[0].resolved);
  CHECK(e.evaluate(costs(5, 0), 3'800'000).empty());
  // An unknown fingerprint changes nothing.
  e.undelivered("0000000000000000", true, 3'800'000);
  e.undelivered("0000000000000000", false, 3'800'000);
  CHECK(e.evaluate(costs(5, 0), 3'900'000).empty());
}

TEST_CASE("alerts: a lost resolve is not sent after the alert fired and resolved again") {
  auto e = evaluator({rule("tenant_cost", "cost", 1.0)}, /*repeat_s=*/0);  // a 300 s window
  REQUIRE(e.evaluate(costs(2, 0), 0).size() == 1);
  auto first_resolve = e.evaluate(costs(2, 0), 400'000);
  REQUIRE(first_resolve.size() == 1);
  CHECK(first_resolve[0].resolved);
  e.undelivered(first_resolve[0].fingerprint, true, 400'000);  // lost: due again at 460'000
  auto again = e.evaluate(costs(5, 0), 410'000);
  REQUIRE(again.size() == 1);
  CHECK_FALSE(again[0].resolved);
  CHECK(e.evaluate(costs(5, 0), 450'000).empty());
  // It resolves again after the lost one was due: the receiver gets this resolve, and not the
  // first one's after it.
  auto second_resolve = e.evaluate(costs(5, 0), 720'000);
  REQUIRE(second_resolve.size() == 1);
  CHECK(second_resolve[0].resolved);
  CHECK(second_resolve[0].ends_ms == 720'000);
  CHECK(e.evaluate(costs(5, 0), 800'000).empty());
}

TEST_CASE("alerts: a long window evaluated often keeps a bounded number of snapshots and still compares across it") {
  auto r = rule("tenant_cost", "cost", 1.0);
  r.window_s = 7 * 86400;
  auto e = evaluator({r});
  // A week of evaluations every second: one USD a day.
  int64_t now = 0;
  size_t notified = 0;
  for (; now <= 8 * 86400'000LL; now += 1000) notified += e.evaluate(costs(double(now) / 86400'000.0, 0), now).size();
  CHECK(notified == 1);  // fired once, early on, and held: the week's increase stays about 7
  REQUIRE(e.active().size() == 1);
  CHECK(e.active()[0].value == Approx(7.0).epsilon(0.01));
  CHECK(e.snapshots() <= alerts::AlertEvaluator::kMaxSnapshots + 2);  // not 691,200
}
