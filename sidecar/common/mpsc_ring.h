// A bounded multi-producer single-consumer ring without a lock (Dmitry Vyukov's bounded queue:
// each cell carries a sequence number that says whose turn it is). Producers claim a cell with a
// compare-and-swap on the tail and publish it with a store; the consumer never writes anything a
// producer waits on, so a consumer that is descheduled mid-pop cannot stall a producer. That is
// what lets the exporter thread run at SCHED_IDLE: with MpscQueue's mutex, a worker posting a
// record could wait for as long as the idle thread stayed off the CPU.
//
// A producer descheduled between its claim and its publish holds up the consumer at that cell
// (pop reports empty until it publishes), never other producers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace outrigger {

template <class T>
class MpscRing {
 public:
  // Room for at least `capacity` items (rounded up to a power of two).
  explicit MpscRing(size_t capacity) {
    size_t size = 2;
    while (size < capacity) size <<= 1;
    mask_ = size - 1;
    cells_ = std::make_unique<Cell[]>(size);
    for (size_t i = 0; i < size; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  }
  MpscRing(const MpscRing&) = delete;
  MpscRing& operator=(const MpscRing&) = delete;

  size_t size() const { return mask_ + 1; }

  // [any] False when full; `item` is then left as it was.
  bool push(T&& item) {
    size_t pos = tail_.load(std::memory_order_relaxed);
    Cell* cell;
    for (;;) {
      cell = &cells_[pos & mask_];
      size_t sequence = cell->sequence.load(std::memory_order_acquire);
      auto lag = static_cast<intptr_t>(sequence) - static_cast<intptr_t>(pos);
      if (lag == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (lag < 0) {
        return false;  // the cell still holds the item from one lap ago
      } else {
        pos = tail_.load(std::memory_order_relaxed);  // another producer took this cell
      }
    }
    cell->value = std::move(item);
    cell->sequence.store(pos + 1, std::memory_order_release);
    return true;
  }

  // [the consumer] False when empty (or the next cell's producer has not published yet).
  bool pop(T* out) {
    Cell& cell = cells_[head_ & mask_];
    size_t sequence = cell.sequence.load(std::memory_order_acquire);
    if (static_cast<intptr_t>(sequence) - static_cast<intptr_t>(head_ + 1) < 0) return false;
    *out = std::move(cell.value);
    cell.value = T();  // the item's resources go with the consumer, not with the next lap
    cell.sequence.store(head_ + mask_ + 1, std::memory_order_release);
    ++head_;
    return true;
  }

 private:
  struct Cell {
    std::atomic<size_t> sequence;
    T value;
  };
  std::unique_ptr<Cell[]> cells_;
  size_t mask_ = 0;
  alignas(64) std::atomic<size_t> tail_{0};  // producers
  alignas(64) size_t head_ = 0;              // the consumer only
};

}  // namespace outrigger
