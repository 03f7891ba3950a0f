// Exporter instances on the exporter thread's loop (ABI 1.2 instance loop access): an exporter
// the thread adopted sets a repeating timer there from a post queued in create, and both the
// thread's stop and the instance's last reference dropping end the timer with exactly one
// final call before the plugin's destroy.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/plugin.hpp>

#include "chain/chain.h"
#include "chain/host_api.h"
#include "plugin/instance.h"
#include "support/in_test_plugins.h"
#include "telemetry/exporter_thread.h"

using namespace outrigger;
using outrigger::testing::typeFor;

namespace {

// What the probe exporter's callbacks and destroy did, in order, and on which thread. Written
// on the exporter thread, read by the test.
struct Journal {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;
  std::vector<std::thread::id> threads;
  int ticks = 0;

  void add(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(event);
    threads.push_back(std::this_thread::get_id());
    if (event == "tick") ++ticks;
    cv.notify_all();
  }
  template <class P>
  bool waitFor(P done) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return done(); });
  }
  int count(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const auto& e : events) n += e == event;
    return n;
  }
  int indexOf(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i] == event) return static_cast<int>(i);
    }
    return -1;
  }
  int lastIndexOf(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = events.size(); i-- > 0;) {
      if (events[i] == event) return static_cast<int>(i);
    }
    return -1;
  }
};

Journal* g_journal = nullptr;
const outrigger_host_api* g_api = nullptr;

void onTick(void*, outrigger_status st) noexcept {
  g_journal->add(st == OUTRIGGER_OK ? "tick" : st == OUTRIGGER_E_STALE ? "stale" : "other");
}

// Posted from create: runs once the exporter thread binds the instance, on that thread.
void startTimer(void*, outrigger_status st) noexcept {
  if (st != OUTRIGGER_OK) return g_journal->add("post:stale");
  uint64_t id = 0;
  outrigger_status rc = g_api->instance_timer(g_api->host_ctx, 1, 1, &onTick, nullptr, &id);
  g_journal->add(rc == OUTRIGGER_OK ? "timer" : "timer:refused");
}

std::atomic<int> g_export_micros{0};  // how long each export takes

const outrigger_exporter_hooks kExporterHooks = {
    OUTRIGGER_HEADER_INIT(outrigger_exporter_hooks),
    [](void*, const outrigger_record_view*) noexcept -> outrigger_status {
      if (int us = g_export_micros.load()) std::this_thread::sleep_for(std::chrono::microseconds(us));
      return OUTRIGGER_OK;
    },
    nullptr,
    nullptr,
};

outrigger_plugin_type exporterType() {
  outrigger_plugin_type t{};
  t.hdr = OUTRIGGER_HEADER_INIT(outrigger_plugin_type);
  t.kind = OUTRIGGER_KIND_EXPORTER;
  t.name = plugin::str("ticker");
  t.config_schema_json = plugin::str("{}");
  t.create = [](const outrigger_host_api* host, outrigger_str, outrigger_str, void** inst,
                outrigger_error*) noexcept -> outrigger_status {
    g_api = host;
    *inst = const_cast<outrigger_host_api*>(host);
    return host->instance_post(host->host_ctx, &startTimer, nullptr);
  };
  t.destroy = [](void*) noexcept { g_journal->add("destroy"); };
  t.hooks = &kExporterHooks;
  return t;
}

const outrigger_plugin_type kTicker = exporterType();

struct Rig {
  Journal journal;
  plugin::PluginType type = typeFor(&kTicker);
  telemetry::ExporterThread exporter{16};
  std::shared_ptr<plugin::PluginInstance> instance;

  Rig() {
    g_journal = &journal;
    config::InstanceSettings is{"ticker", "exporter", "ticker", "{}", config::OnError::kDeny, "t:1", {}};
    instance = plugin::PluginInstance::create(type, is, chain::hostApiTemplate()).value();
    exporter.adopt({instance});
    exporter.start();
  }
  ~Rig() {
    exporter.stop();
    instance.reset();
  }
};

}  // namespace

TEST_CASE("an adopted exporter's repeating instance timer ticks on the exporter thread") {
  Rig rig;
  REQUIRE(rig.journal.waitFor([&] { return rig.journal.ticks >= 3; }));
  CHECK(rig.journal.count("timer") == 1);
  std::lock_guard<std::mutex> lock(rig.journal.mu);
  for (const auto& t : rig.journal.threads) {
    CHECK(t == rig.journal.threads.front());
    CHECK(t != std::this_thread::get_id());
  }
}

TEST_CASE("the exporter thread's stop ends an exporter's timer with one final call before destroy") {
  Rig rig;
  REQUIRE(rig.journal.waitFor([&] { return rig.journal.ticks >= 2; }));
  rig.exporter.stop();
  CHECK(rig.journal.count("stale") == 1);
  CHECK(rig.journal.count("destroy") == 0);  // the instance is still held
  int ticks = rig.journal.ticks;
  rig.instance.reset();
  CHECK(rig.journal.count("stale") == 1);
  CHECK(rig.journal.count("destroy") == 1);
  CHECK(rig.journal.ticks == ticks);
  CHECK(rig.journal.lastIndexOf("tick") < rig.journal.indexOf("stale"));
  CHECK(rig.journal.indexOf("stale") < rig.journal.indexOf("destroy"));
}

TEST_CASE("an exporter dropped while its thread runs is torn down there: final call, then destroy") {
  Rig rig;
  REQUIRE(rig.journal.waitFor([&] { return rig.journal.ticks >= 1; }));
  rig.instance.reset();  // off the exporter thread, with a live timer: the teardown is queued there
  REQUIRE(rig.journal.waitFor([&] {
    for (const auto& e : rig.journal.events) {
      if (e == "destroy") return true;
    }
    return false;
  }));
  CHECK(rig.journal.count("stale") == 1);
  int stale = rig.journal.indexOf("stale");
  int destroy = rig.journal.indexOf("destroy");
  CHECK(stale < destroy);
  std::lock_guard<std::mutex> lock(rig.journal.mu);
  CHECK(rig.journal.threads[size_t(destroy)] == rig.journal.threads[size_t(stale)]);
  CHECK(rig.journal.threads[size_t(destroy)] != std::this_thread::get_id());
}

TEST_CASE("workers that outpace the exporters do not keep the exporter thread's timers from running") {
  Rig rig;
  REQUIRE(rig.journal.waitFor([&] { return rig.journal.ticks >= 1; }));
  chain::Route route;
  route.exporters.push_back({rig.instance, "exporter/ticker"});
  g_export_micros = 200;  // 5,000 records a second at most
  const int ticks_before = rig.journal.ticks;
  // Submitted far faster than that for a second: the ring is refilled as fast as it drains.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < until) {
    auto r = std::make_shared<telemetry::RequestRecord>();
    r->route = &route;
    rig.exporter.submit(std::move(r));
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  int ticks_during;
  {
    std::lock_guard<std::mutex> lock(rig.journal.mu);
    ticks_during = rig.journal.ticks - ticks_before;
  }
  g_export_micros = 0;
  rig.exporter.stop();
  // A 1 ms timer: without turns back to the loop it ticked about never while the load lasted.
  CHECK(ticks_during >= 50);
  CHECK(rig.exporter.exported() > 1000);
}
