// The exporter queue is bounded: a full queue drops records and feedback and counts every drop;
// records queued without a wake-up each are drained all the same.
#include <catch2/catch.hpp>

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "telemetry/exporter_thread.h"
#include "telemetry/record_bytes.h"

using namespace outrigger;

TEST_CASE("a full exporter queue drops records without blocking and counts each drop") {
  telemetry::ExporterThread exporter(/*queue_capacity=*/4);
  // Not started: nothing drains, so the fifth record onwards finds the queue full.
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += exporter.submit(std::make_shared<telemetry::RequestRecord>());
  CHECK(accepted == 4);
  CHECK(exporter.dropped() == 6);
  exporter.start();
  exporter.stop();  // drains what was queued
  CHECK(exporter.submit(std::make_shared<telemetry::RequestRecord>()) == false);  // stopped: refused, counted
  CHECK(exporter.dropped() == 7);
}

TEST_CASE("the exporter queue is bounded in bytes too: records holding captured content are dropped past it, counted") {
  telemetry::ExporterThread exporter(/*queue_capacity=*/4096, {}, /*max_bytes=*/1u << 20);
  auto withAnswer = [](size_t bytes) {
    auto r = std::make_shared<telemetry::RequestRecord>();
    r->answer.assign(bytes, 'a');
    return r;
  };
  // Not started: nothing drains. Three answers of 300 KB fit in 1 MiB, the fourth does not.
  int accepted = 0;
  for (int i = 0; i < 4; ++i) accepted += exporter.submit(withAnswer(300000));
  CHECK(accepted == 3);
  CHECK(exporter.dropped() == 1);
  CHECK(exporter.queuedBytes() > 900000);
  CHECK(exporter.queuedBytes() < (1 << 20));
  auto essay = std::make_shared<telemetry::FeedbackRecord>();
  essay->comment.assign(200000, 'c');
  CHECK_FALSE(exporter.submitFeedback(essay));  // feedback counts its bytes too
  CHECK(exporter.feedbackDropped() == 1);
  CHECK(exporter.submit(std::make_shared<telemetry::RequestRecord>()));  // a small one still fits
  CHECK_FALSE(exporter.full());
  exporter.start();
  exporter.stop();  // drains what was queued
  CHECK(exporter.queuedBytes() == 0);

  telemetry::ExporterThread empty(/*queue_capacity=*/16, {}, /*max_bytes=*/1u << 20);
  CHECK(empty.submit(withAnswer(3u << 20)));  // larger than the bound, into an empty queue
  CHECK_FALSE(empty.submit(std::make_shared<telemetry::RequestRecord>()));
}

TEST_CASE("feedback shares the bounded exporter queue: a full queue drops it and counts each drop") {
  telemetry::ExporterThread exporter(/*queue_capacity=*/2);
  CHECK(exporter.submit(std::make_shared<telemetry::RequestRecord>()));
  CHECK(exporter.submitFeedback(std::make_shared<telemetry::FeedbackRecord>()));
  CHECK_FALSE(exporter.submitFeedback(std::make_shared<telemetry::FeedbackRecord>()));
  CHECK(exporter.feedbackDropped() == 1);
  CHECK(exporter.dropped() == 0);  // records and feedback are counted apart
  exporter.start();
  exporter.stop();
  CHECK(exporter.feedbackExported() == 0);  // no chain: no exporter to hear it
}

// Records posted without waking the thread (all but the first of a burst) must still be
// exported: the drain timer takes them, and a lone record after a quiet spell wakes it.
TEST_CASE("records queued in bursts without a wake-up each are all drained, and a lone record still wakes the thread") {
  telemetry::ExporterThread exporter(/*queue_capacity=*/100000);
  exporter.start(telemetry::ExporterPriority::kLow);
  auto drained = [&] {
    for (int i = 0; i < 400 && exporter.queued() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return exporter.queued() == 0;
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) exporter.submit(std::make_shared<telemetry::RequestRecord>());
    });
  }
  for (auto& w : workers) w.join();
  CHECK(drained());
  for (int round = 0; round < 20; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    REQUIRE(exporter.submit(std::make_shared<telemetry::RequestRecord>()));
    CHECK(drained());
  }
  CHECK(exporter.dropped() == 0);
  exporter.stop();
}

namespace {
// The scheduling policy of this process's thread named `name`, or -1 when there is none.
int policyOfThread(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    std::getline(comm, line);
    if (line == name) return sched_getscheduler(std::stoi(task.path().filename().string()));
  }
  return -1;
}

// The thread sets its policy on its loop, shortly after it starts.
bool eventuallyPolicy(const std::string& name, int policy) {
  for (int i = 0; i < 400; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(5))) {
    if (policyOfThread(name) == policy) return true;
  }
  return false;
}
}  // namespace

// The default: the exporter thread only gets CPU the workers leave. Workers never wait for it
// (its queue is a lock-free ring), so a descheduled exporter cannot delay a request.
TEST_CASE("the exporter thread runs at SCHED_IDLE by default and at SCHED_OTHER when asked for normal") {
  {
    telemetry::ExporterThread exporter(/*queue_capacity=*/16);
    exporter.start();
    CHECK(eventuallyPolicy("or-exporter", SCHED_IDLE));
    exporter.stop();
  }
  telemetry::ExporterThread exporter(/*queue_capacity=*/16);
  exporter.start(telemetry::ExporterPriority::kNormal);
  CHECK(eventuallyPolicy("or-exporter", SCHED_OTHER));
  exporter.stop();
}

TEST_CASE("a worker asks whether the queue is full when a request begins and before building its record, and a skipped record counts as dropped") {
  telemetry::ExporterThread exporter(/*queue_capacity=*/2);
  CHECK_FALSE(exporter.shedIfFull());
  CHECK(exporter.dropped() == 0);
  REQUIRE(exporter.submit(std::make_shared<telemetry::RequestRecord>()));
  REQUIRE(exporter.submit(std::make_shared<telemetry::RequestRecord>()));
  CHECK(exporter.full());  // asked when a request begins: this one collects no trace attributes
  CHECK(exporter.dropped() == 0);
  CHECK(exporter.shedIfFull());
  CHECK(exporter.dropped() == 1);
  exporter.countShed();  // the record of a request that began with the queue full
  CHECK(exporter.dropped() == 2);
  exporter.start();
  for (int i = 0; i < 400 && exporter.queued() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK_FALSE(exporter.full());
  CHECK_FALSE(exporter.shedIfFull());
  CHECK(exporter.dropped() == 2);
  exporter.stop();
}

TEST_CASE("what counting a record's bytes for the queue's bound costs", "[.][bench]") {
  // A default-chain record: a guardrail on each side and one provider attempt, with attributes.
  telemetry::RequestRecord r;
  r.trace_id = std::string(32, 'a');
  r.metadata.tenant = "acme";
  r.metadata.tags = {{"team", "search"}, {"feature", "answers"}};
  for (const char* stage : {"guardrail.request", "cache.lookup", "provider", "guardrail.response", "cache.store"}) {
    telemetry::SpanRecord s{stage, "instance", 0, 35000, "continue"};
    for (int a = 0; a < 6; ++a) telemetry::setAttribute(&s.attributes, "gen_ai.usage.input_tokens", "12");
    r.spans.push_back(std::move(s));
  }
  r.answer = std::string(200, 'x');
  const int kCounts = 1000000;
  std::vector<double> ns;
  size_t sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCounts; ++i) sink += telemetry::recordBytes(r);
    ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / kCounts);
  }
  std::sort(ns.begin(), ns.end());
  REQUIRE(sink > 0);
  std::printf("bench: counting a default-chain record's bytes (%zu): %.0f ns (median of 5 passes of %d)\n",
              telemetry::recordBytes(r), ns[2], kCounts);
}
