// A bounded multi-producer single-consumer queue. Producers on any thread push; the owning
// thread drains everything in one swap, so one wake-up serves every item posted before it.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

namespace outrigger {

template <class T>
class MpscQueue {
 public:
  explicit MpscQueue(size_t capacity) : capacity_(capacity) {}

  // False when full: the caller decides whether to drop (and count) or fail.
  bool push(T item) {
    std::lock_guard<std::mutex> lock(mu_);
    if (items_.size() >= capacity_) return false;
    items_.push_back(std::move(item));
    return true;
  }

  // Moves every queued item into `out` (cleared first).
  void drain(std::vector<T>* out) {
    out->clear();
    std::lock_guard<std::mutex> lock(mu_);
    out->swap(items_);
  }

  size_t capacity() const { return capacity_; }

 private:
  std::mutex mu_;
  std::vector<T> items_;
  const size_t capacity_;
};

}  // namespace outrigger
