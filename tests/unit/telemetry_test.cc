// The exporter queue is bounded: a full queue drops records and feedback and counts every drop.
#include <catch2/catch.hpp>

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
