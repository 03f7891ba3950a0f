// The root span of the requests this instance exported lately, by trace id, so a feedback that
// names only its answer's trace can point at the answer's span. Bounded: the oldest entry goes
// when a new one needs its place. Several requests may share a trace (a caller's traceparent);
// the latest one's root span is kept. Single-threaded, like the exporter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace outrigger::otlp {

class RootSpanIndex {
 public:
  explicit RootSpanIndex(size_t capacity) : ring_(capacity ? capacity : 1) { latest_.reserve(ring_.size()); }

  // The key a trace is remembered and found by: its tenant's and its id. A trace id is the
  // caller's to name (a shared traceparent): another tenant's feedback must not land on it.
  static std::string keyOf(std::string_view tenant, std::string_view trace_id) {
    return std::to_string(tenant.size()).append(1, ':').append(tenant).append(trace_id);  // length-prefixed: unambiguous
  }
  // A copy's keys would view the original's ring.
  RootSpanIndex(const RootSpanIndex&) = delete;
  RootSpanIndex& operator=(const RootSpanIndex&) = delete;

  void remember(std::string_view trace_id, std::string_view root_span_id) {
    Entry& slot = ring_[next_ % ring_.size()];
    if (!slot.trace_id.empty()) {
      auto it = latest_.find(slot.trace_id);
      if (it != latest_.end() && it->second == slot.position) latest_.erase(it);
    }
    // No key views this slot now (a key views the slot its position names), so it can be rewritten.
    slot.trace_id.assign(trace_id);  // in the slot's memory once the ring has come round
    slot.root_span_id.assign(root_span_id);
    slot.position = next_;
    auto [it, added] = latest_.try_emplace(slot.trace_id, next_);
    if (!added) {
      // The trace has an entry in an older slot: its key moves to view this slot's text.
      auto node = latest_.extract(it);
      node.key() = slot.trace_id;
      node.mapped() = next_;
      latest_.insert(std::move(node));
    }
    ++next_;
  }

  // The root span id of the latest request of that trace; empty when it is not (or no longer) here.
  std::string_view find(std::string_view trace_id) const {
    auto it = latest_.find(trace_id);
    return it == latest_.end() ? std::string_view() : std::string_view(ring_[it->second % ring_.size()].root_span_id);
  }

 private:
  struct Entry {
    std::string trace_id, root_span_id;
    uint64_t position = 0;
  };
  std::vector<Entry> ring_;
  // Trace id (a view of ring_[position].trace_id) -> position of its latest entry.
  std::unordered_map<std::string_view, uint64_t> latest_;
  uint64_t next_ = 0;
};

}  // namespace outrigger::otlp
