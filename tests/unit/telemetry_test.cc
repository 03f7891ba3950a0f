// The exporter queue is bounded: a full queue drops records and feedback and counts every drop;
// records queued without a wake-up each are drained all the same.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>
#include <vector>

#include "telemetry/exporter_thread.h"

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

TEST_CASE("feedback shares the bounded exporter queue: a full queue drops it and counts each drop") {
  telemetry::ExporterThread exporter(/*queue_capacity=*/2);
  CHECK(exporter.submit(std::make_shared<telemetry::RequestRecord>()));
  CHECK(exporter.submitFeedback(std::make_shared<telemetry::FeedbackRecord>()));
  CHECK_FALSE(exporter.submitFeedback(std::make_shared<telemetry::FeedbackRecord>()));
  CHECK(exporter.feedbackDropped() == 1);
  CHECK(exporter.dropped() == 1);
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
