#include "semantic_store.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "quantized_space.h"

namespace outrigger::semantic {

class SemanticStore::QuantizedSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit QuantizedSpace(size_t dims) : dims_(dims) {}
  size_t get_data_size() override { return quantizedBytes(dims_); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &quantizedDistance; }
  void* get_dist_func_param() override { return &dims_; }

 private:
  size_t dims_;
};

struct SemanticStore::Entry {
  std::vector<float> vector;  // exact, for rescoring what the quantized index returns
  std::string query;
  QueryMarks marks;
  CachedAnswer answer;
  uint64_t expires_ns = 0;
  size_t bytes = 0;
  Lru::iterator lru;
  Expiry::iterator expiry;
};

// A small partition is scanned whole: a search compares the query with each of its quantized
// vectors. An hnswlib index costs 2.6 MB and about 1.6 ms to make however few points it holds
// (it makes 65,536 update locks up front), so one for every partition, most of which hold a
// tenant's or a system prompt's first few questions, would spend memory the byte bound never
// saw, and block the loop on each first store. From kIndexFromEntries entries a partition gets an
// index, and each later store moves a few of the scanned entries into it (kMovesPerStore), so
// no store builds a whole index at once; a search looks in the index and scans the rest.
// Labels are reused after removal (hnswlib 0.6 replaces a deleted point in place when its label
// is added again); capacity, the index's and the scanned vectors', grows by doubling.
struct SemanticStore::Partition {
  std::string key;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;  // none below kIndexFromEntries entries
  std::vector<uint8_t> scanned_vectors;  // quantized, by label; released once all are indexed
  std::vector<size_t> scanned;           // labels searched by the scan, not the index
  std::vector<std::unique_ptr<Entry>> slots;  // by label
  std::vector<size_t> free_labels;
  size_t capacity = 0, live = 0;
  size_t counted_bytes = 0;  // what bytes_ holds for the structures above, not the entries
};

namespace {

constexpr size_t kInitialCapacity = 8;
// The scanned entries a store moves into a new index, each as long as a store into the index.
constexpr size_t kMovesPerStore = 4;

static_assert(SemanticStore::kIndexFixedBytes ==
                  size_t{hnswlib::HierarchicalNSW<float>::max_update_element_locks} * sizeof(std::mutex),
              "the fixed part of an index is its update locks");

size_t entryBytes(size_t dims, const std::string& query, const QueryMarks& marks, const CachedAnswer& a) {
  size_t n = dims * sizeof(float) + query.size() + a.content.size() + a.finish_reason.size() + a.model.size() +
             256;  // + the entry's own fields
  for (const auto& c : a.tool_calls) n += c.id.size() + c.type.size() + c.name.size() + c.arguments.size() + 128;
  // Each negation word and number is a string of its own: a query of "1 1 1 ..." holds one
  // per character, sixteen times its length.
  for (const auto* words : {&marks.negations, &marks.numbers}) {
    for (const std::string& w : *words) n += sizeof(std::string) + (w.size() > 15 ? w.size() + 1 : 0);
  }
  return n;
}

float dot(const float* a, const float* b, size_t n) {
  float sum = 0;
  for (size_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

SemanticStore::SemanticStore(StoreLimits limits)
    : limits_(limits), space_(std::make_unique<QuantizedSpace>(limits.dims)) {}

SemanticStore::~SemanticStore() = default;

// What one allocated index slot costs: its quantized vector, its level-0 links and label, the
// per-element lock and level bookkeeping, and the upper levels' links on average (1 in M).
size_t SemanticStore::slotBytes() const {
  size_t links0 = 2 * limits_.hnsw_m * 4 + 4, upper = (limits_.hnsw_m * 4 + 4) / std::max<size_t>(limits_.hnsw_m - 1, 1);
  return quantizedBytes(limits_.dims) + links0 + 8 + sizeof(void*) + sizeof(int) + sizeof(std::mutex) + upper;
}

// Counts what `p`'s index, scanned vectors and bookkeeping hold now in bytes_.
void SemanticStore::recount(Partition* p) {
  size_t bytes = sizeof(Partition) + p->key.size() + p->capacity * sizeof(std::unique_ptr<Entry>) +
                 p->scanned_vectors.capacity() + (p->scanned.capacity() + p->free_labels.capacity()) * sizeof(size_t);
  if (p->index) bytes += kIndexFixedBytes + p->capacity * slotBytes();
  bytes_ = bytes_ - p->counted_bytes + bytes;
  p->counted_bytes = bytes;
}

// The `count` nearest labels to `quantized` by the int8 distance, from the index and the scan,
// nearest first.
std::vector<std::pair<float, size_t>> SemanticStore::nearestApprox(Partition* p, const uint8_t* quantized,
                                                                   size_t count) const {
  std::vector<std::pair<float, size_t>> near;
  size_t indexed = p->live - p->scanned.size();
  if (p->index && indexed > 0) {
    for (auto heap = p->index->searchKnn(quantized, std::min(count, indexed)); !heap.empty(); heap.pop()) {
      near.emplace_back(heap.top().first, heap.top().second);
    }
  }
  const size_t width = quantizedBytes(limits_.dims);
  size_t dims = limits_.dims;
  for (size_t label : p->scanned) {
    near.emplace_back(quantizedDistance(quantized, p->scanned_vectors.data() + label * width, &dims), label);
  }
  size_t keep = std::min(count, near.size());
  std::partial_sort(near.begin(), near.begin() + static_cast<std::ptrdiff_t>(keep), near.end());
  near.resize(keep);
  return near;
}

constexpr float kRoundingSlack = 1e-5f;

Match SemanticStore::find(const std::string& key, const float* vector, const QueryMarks& marks, float threshold,
                          uint64_t now_ns, bool guard) {
  Match m;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = partitions_.find(key);
  if (it == partitions_.end() || it->second->live == 0) return m;
  Partition* p = it->second.get();
  std::vector<uint8_t> quantized(quantizedBytes(limits_.dims));
  quantize(vector, limits_.dims, quantized.data());
  std::vector<std::pair<float, size_t>> nearest;  // (distance, label), nearest first, exact
  for (const auto& [approx, label] : nearestApprox(p, quantized.data(), limits_.candidates)) {
    if (Entry* e = p->slots[label].get()) {
      nearest.emplace_back(1.0f - dot(vector, e->vector.data(), limits_.dims), label);
    }
  }
  std::sort(nearest.begin(), nearest.end());
  std::vector<size_t> expired;
  for (const auto& [distance, label] : nearest) {
    Entry* e = p->slots[label].get();
    if (!e) continue;
    if (e->expires_ns <= now_ns) {
      expired.push_back(label);
      continue;
    }
    float similarity = 1.0f - distance;
    if (!m.found_any) m.best_similarity = similarity;
    m.found_any = true;
    // A float dot product of a unit vector with itself can come out at 0.99999994: within the
    // sum's rounding of the threshold counts as reaching it, or at 1.0 the same question missed.
    if (similarity < threshold - kRoundingSlack) break;
    if (std::string_view why = guard ? guardRefusal(marks, e->marks) : std::string_view(); !why.empty()) {
      if (m.refused_by.empty()) m.refused_by = why;
      continue;
    }
    m.hit = true;
    m.hit_similarity = similarity;
    m.answer = e->answer;
    lru_.splice(lru_.begin(), lru_, e->lru);
    break;
  }
  expirations_ += expired.size();
  for (size_t label : expired) remove(p, label);  // may free p: nothing below touches it
  return m;
}

// Doubles `p`'s capacity: its slots, its index's, and the scanned vectors' while it has them.
void SemanticStore::grow(Partition* p) {
  size_t capacity = p->capacity * 2;
  if (p->index) p->index->resizeIndex(capacity);
  if (!p->scanned_vectors.empty()) p->scanned_vectors.resize(capacity * quantizedBytes(limits_.dims));
  p->capacity = capacity;
}

// Makes `p`'s index once it holds kIndexFromEntries entries (unless the index's fixed part
// would take over a quarter of the byte bound: then the partition stays scanned), and moves up
// to kMovesPerStore scanned entries into it; the scanned vectors go once none is left. Out of
// memory, it stops: the entries stay scanned, and the next store tries again.
void SemanticStore::indexSome(Partition* p) try {
  if (!p->index && p->live >= kIndexFromEntries && kIndexFixedBytes * 4 <= limits_.max_bytes) {
    p->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), p->capacity, limits_.hnsw_m,
                                                                 limits_.ef_construction);
    p->index->setEf(limits_.ef_search);
  }
  if (!p->index) return;
  const size_t width = quantizedBytes(limits_.dims);
  for (size_t moved = 0; moved < kMovesPerStore && !p->scanned.empty(); ++moved) {
    size_t label = p->scanned.back();
    p->index->addPoint(p->scanned_vectors.data() + label * width, label);
    p->scanned.pop_back();
  }
  if (p->scanned.empty() && p->scanned_vectors.capacity() > 0) {  // once, when the last one moved
    std::vector<uint8_t>().swap(p->scanned_vectors);
    std::vector<size_t>().swap(p->scanned);
  }
} catch (const std::exception&) {
}

// Everything that can fail to allocate comes before the store changes, or is undone: out of
// memory, the answer is simply not cached and the store is as it was.
bool SemanticStore::add(const std::string& key, const float* vector, std::string query, QueryMarks marks,
                        CachedAnswer answer, uint64_t expires_ns) {
  size_t bytes = entryBytes(limits_.dims, query, marks, answer);
  if (bytes > limits_.max_entry_bytes) return false;
  const size_t width = quantizedBytes(limits_.dims);
  std::lock_guard<std::mutex> lock(mu_);
  Partition* p = nullptr;
  try {
    // One entry per question in a partition: an answer stored again for the same text and vector
    // (the one a re-ask got after a guardrail rejected a hit's) takes the old one's place, rather
    // than sitting beside it at the same distance, where the older could go on winning. It goes
    // once the new one is in: out of memory before that, the store stays as it was.
    std::optional<size_t> replaced;
    if (auto same = partitions_.find(key); same != partitions_.end() && same->second->live > 0) {
      std::vector<uint8_t> near(width);
      quantize(vector, limits_.dims, near.data());
      for (const auto& [approx, label] : nearestApprox(same->second.get(), near.data(), limits_.candidates)) {
        const Entry* old = same->second->slots[label].get();
        // The same text embeds to the same vector: both must agree.
        if (old && old->query == query && 1.0f - dot(vector, old->vector.data(), limits_.dims) < 1e-4f) {
          replaced = label;
          break;
        }
      }
    }
    auto e = std::make_unique<Entry>();
    e->vector.assign(vector, vector + limits_.dims);
    e->query = std::move(query);
    e->marks = std::move(marks);
    e->answer = std::move(answer);
    e->expires_ns = expires_ns;
    e->bytes = bytes;
    std::vector<uint8_t> quantized(width);
    quantize(vector, limits_.dims, quantized.data());
    Lru node;  // its LRU node, made here so that moving it in cannot fail
    node.emplace_front(nullptr, 0);
    Expiry expiry_node;  // and its expiry node, moved in as a node handle
    expiry_node.emplace(expires_ns, std::make_pair(nullptr, 0));
    auto expiry_handle = expiry_node.extract(expiry_node.begin());
    auto it = partitions_.find(key);
    if (it == partitions_.end()) {
      auto fresh = std::make_unique<Partition>();
      fresh->key = key;
      fresh->capacity = kInitialCapacity;
      fresh->scanned_vectors.resize(fresh->capacity * width);
      it = partitions_.emplace(key, std::move(fresh)).first;
    }
    p = it->second.get();
    size_t label = p->free_labels.empty() ? p->slots.size() : p->free_labels.back();
    if (label >= p->capacity) grow(p);
    const bool new_slot = label == p->slots.size();
    if (new_slot) p->slots.emplace_back();
    try {
      if (p->index) {
        p->index->addPoint(quantized.data(), label);
      } else {
        p->scanned.push_back(label);
        std::copy(quantized.begin(), quantized.end(),
                  p->scanned_vectors.begin() + static_cast<std::ptrdiff_t>(label * width));
      }
    } catch (...) {
      if (new_slot) p->slots.pop_back();
      throw;
    }
    // Nothing below allocates but indexSome, which keeps its own failures.
    if (!new_slot) p->free_labels.pop_back();
    node.front() = {p, label};
    lru_.splice(lru_.begin(), node);
    e->lru = lru_.begin();
    expiry_handle.mapped() = {p, label};
    e->expiry = expiry_.insert(std::move(expiry_handle));
    p->slots[label] = std::move(e);
    ++p->live;
    ++entries_;
    bytes_ += bytes;
    if (replaced) remove(p, *replaced);  // the partition keeps the new entry
    indexSome(p);
    recount(p);
  } catch (const std::exception&) {
    if (p && p->live == 0) {
      bytes_ -= p->counted_bytes;
      partitions_.erase(key);
    } else if (p) {
      recount(p);
    }
    return false;
  }
  evictOverBounds();
  return true;
}

void SemanticStore::remove(Partition* p, size_t label) {
  std::unique_ptr<Entry> e = std::move(p->slots[label]);
  lru_.erase(e->lru);
  expiry_.erase(e->expiry);
  if (auto at = std::find(p->scanned.begin(), p->scanned.end(), label); at != p->scanned.end()) {
    *at = p->scanned.back();
    p->scanned.pop_back();
  } else {
    p->index->markDelete(label);
  }
  p->free_labels.push_back(label);
  --p->live;
  --entries_;
  bytes_ -= e->bytes;
  if (p->live == 0) {  // an empty partition gives its whole index back
    bytes_ -= p->counted_bytes;
    std::string key = p->key;  // not a reference into the node being erased
    partitions_.erase(key);
  } else {
    recount(p);
  }
}

void SemanticStore::evictOverBounds() {
  while (!lru_.empty() && (entries_ > limits_.max_entries || bytes_ > limits_.max_bytes)) {
    auto [p, label] = lru_.back();
    remove(p, label);
    ++evictions_;
  }
}

void SemanticStore::expire(uint64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!expiry_.empty() && expiry_.begin()->first <= now_ns) {
    auto [p, label] = expiry_.begin()->second;
    remove(p, label);
    ++expirations_;
  }
}

void SemanticStore::setSearchBreadthForTest(size_t ef) {
  std::lock_guard<std::mutex> lock(mu_);
  limits_.ef_search = ef;
  for (auto& [key, p] : partitions_) {
    if (p->index) p->index->setEf(ef);
  }
}

StoreCounts SemanticStore::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {entries_, partitions_.size(), bytes_, evictions_, expirations_};
}

}  // namespace outrigger::semantic
