// The semantic cache's entries, in one set per hard partition (tenant, route, model, system
// prompt and tools, response format): from 512 entries an HNSW index (hnswlib, inner product
// over unit vectors, held as int8 and rescored in float: quantized_space.h), below that a scan
// of the same int8 vectors. A lookup searches its own partition only, so nothing can match
// across partitions: there is no shared index to filter. Bounded by entry count and bytes (least
// recently used goes first) and by a time to live per entry. Thread-safe: one lock over the
// whole store (a lookup holds it for one index search, ~100 us at 100k entries).
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "query_guard.h"

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
}  // namespace hnswlib

namespace outrigger::semantic {

// What a hit serves.
struct CachedToolCall {
  std::string id, type, name, arguments;
};

struct CachedAnswer {
  std::string content, finish_reason, model;
  uint32_t prompt_tokens = 0, completion_tokens = 0;
  std::vector<CachedToolCall> tool_calls;  // only with store_tool_answers
};

struct StoreLimits {
  size_t dims = 0;
  size_t max_entries = 100000;
  size_t max_bytes = 256u << 20;  // entries, their vectors, the indexes and the scanned vectors
  size_t max_entry_bytes = 1u << 20;
  size_t hnsw_m = 16, ef_construction = 200, ef_search = 16;  // semantic_index_bench: recall@1 0.998 at 16
  size_t candidates = 4;  // nearest neighbours checked against the guard
};

// The result of a search: the best candidate's similarity whatever it became (a hit or not), and
// the answer when a candidate at or above the threshold passed the guard.
struct Match {
  bool found_any = false;
  float best_similarity = 0;
  bool hit = false;
  float hit_similarity = 0;
  std::string refused_by;  // "negation" | "number" when the best candidate over threshold was refused
  CachedAnswer answer;
};

struct StoreCounts {
  size_t entries = 0, partitions = 0, bytes = 0, evictions = 0, expirations = 0;
};

class SemanticStore {
 public:
  // A partition of fewer entries is scanned: a scan of 512 vectors of 384 values takes about
  // as long as a search of an index of 512.
  static constexpr size_t kIndexFromEntries = 512;
  // What an index holds however few entries it has (hnswlib's 65,536 update locks).
  static constexpr size_t kIndexFixedBytes = 65536 * sizeof(std::mutex);

  explicit SemanticStore(StoreLimits limits);
  ~SemanticStore();

  // Searches `partition` for `vector` (unit length, dims values). `guard` false skips the
  // negation and number check (the evaluation measures both ways).
  Match find(const std::string& partition, const float* vector, const QueryMarks& marks, float threshold,
             uint64_t now_ns, bool guard = true);
  // Adds an entry; false when it is larger than max_entry_bytes (not stored).
  bool add(const std::string& partition, const float* vector, std::string query, QueryMarks marks,
           CachedAnswer answer, uint64_t expires_ns);
  // Drops every entry whose time to live ended by `now_ns`, so that none counts against the
  // bounds (or evicts a live one) or shows in counts(); a search drops those it meets anyway.
  void expire(uint64_t now_ns);
  StoreCounts counts() const;
  // The HNSW search breadth of every partition, for the benchmark's recall sweep.
  void setSearchBreadthForTest(size_t ef);

 private:
  struct Partition;
  struct Entry;
  class QuantizedSpace;
  using Lru = std::list<std::pair<Partition*, size_t>>;  // most recent first: (partition, label)
  using Expiry = std::multimap<uint64_t, std::pair<Partition*, size_t>>;  // by expires_ns

  void remove(Partition* p, size_t label);
  void evictOverBounds();
  void grow(Partition* p);
  void indexSome(Partition* p);
  void recount(Partition* p);
  std::vector<std::pair<float, size_t>> nearestApprox(Partition* p, const uint8_t* quantized, size_t count) const;
  size_t slotBytes() const;

  StoreLimits limits_;
  std::unique_ptr<QuantizedSpace> space_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Partition>> partitions_;
  Lru lru_;
  Expiry expiry_;
  size_t entries_ = 0, bytes_ = 0, evictions_ = 0, expirations_ = 0;
};

}  // namespace outrigger::semantic
