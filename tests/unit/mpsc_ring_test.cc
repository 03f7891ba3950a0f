// The exporter's lock-free ring: every item pushed by any number of producers is popped exactly
// once, each producer's items in its order; a full ring refuses without losing what it holds.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "common/mpsc_ring.h"

using outrigger::MpscRing;

TEST_CASE("a ring refuses pushes when full, keeps the refused item, and reuses its cells lap after lap") {
  MpscRing<std::unique_ptr<int>> ring(3);
  REQUIRE(ring.size() == 4);
  for (int lap = 0; lap < 5; ++lap) {
    for (int i = 0; i < 4; ++i) REQUIRE(ring.push(std::make_unique<int>(lap * 10 + i)));
    auto extra = std::make_unique<int>(99);
    CHECK_FALSE(ring.push(std::move(extra)));
    REQUIRE(extra);  // a refused item stays with the caller
    CHECK(*extra == 99);
    std::unique_ptr<int> out;
    for (int i = 0; i < 4; ++i) {
      REQUIRE(ring.pop(&out));
      CHECK(*out == lap * 10 + i);
    }
    CHECK_FALSE(ring.pop(&out));
  }
}

TEST_CASE("items from many producers are each popped once, every producer's in its own order") {
  constexpr int kProducers = 4, kEach = 50000;
  MpscRing<uint64_t> ring(256);
  std::atomic<int> running{kProducers};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (uint64_t i = 0; i < kEach; ++i) {
        while (!ring.push(uint64_t(p) << 32 | i)) std::this_thread::yield();  // full: the consumer catches up
      }
      running.fetch_sub(1);
    });
  }
  std::vector<uint64_t> next(kProducers, 0);
  uint64_t popped = 0, out_of_order = 0;
  for (uint64_t item; running.load() > 0 || popped < uint64_t(kProducers) * kEach;) {
    if (!ring.pop(&item)) {
      std::this_thread::yield();
      continue;
    }
    auto p = static_cast<size_t>(item >> 32);
    out_of_order += (item & 0xffffffffu) != next[p];
    next[p] = (item & 0xffffffffu) + 1;
    ++popped;
  }
  for (auto& t : producers) t.join();
  uint64_t item;
  CHECK_FALSE(ring.pop(&item));
  CHECK(popped == uint64_t(kProducers) * kEach);
  CHECK(out_of_order == 0);
  for (int p = 0; p < kProducers; ++p) CHECK(next[p] == kEach);
}
