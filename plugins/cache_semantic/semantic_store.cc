#include "semantic_store.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
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
};

// A partition's index grows by doubling; the labels of removed entries are reused (hnswlib
// 0.6 replaces a deleted point in place when its label is added again).
struct SemanticStore::Partition {
  std::string key;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
  std::vector<std::unique_ptr<Entry>> slots;  // by label
  std::vector<size_t> free_labels;
  size_t capacity = 0, live = 0;
};

namespace {

constexpr size_t kInitialCapacity = 64;

size_t entryBytes(size_t dims, const std::string& query, const CachedAnswer& a) {
  size_t n = dims * sizeof(float) + query.size() + a.content.size() + a.finish_reason.size() + a.model.size() +
             256;  // + the entry's own fields
  for (const auto& c : a.tool_calls) n += c.id.size() + c.type.size() + c.name.size() + c.arguments.size() + 128;
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

Match SemanticStore::find(const std::string& key, const float* vector, const QueryMarks& marks, float threshold,
                          uint64_t now_ns, bool guard) {
  Match m;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = partitions_.find(key);
  if (it == partitions_.end() || it->second->live == 0) return m;
  Partition* p = it->second.get();
  std::vector<uint8_t> quantized(quantizedBytes(limits_.dims));
  quantize(vector, limits_.dims, quantized.data());
  auto heap = p->index->searchKnn(quantized.data(), std::min(limits_.candidates, p->live));
  std::vector<std::pair<float, size_t>> nearest;  // (distance, label), nearest first, exact
  for (; !heap.empty(); heap.pop()) {
    size_t label = heap.top().second;
    if (Entry* e = p->slots[label].get()) nearest.emplace_back(1.0f - dot(vector, e->vector.data(), limits_.dims), label);
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
    if (similarity < threshold) break;
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

bool SemanticStore::add(const std::string& key, const float* vector, std::string query, QueryMarks marks,
                        CachedAnswer answer, uint64_t expires_ns) {
  size_t bytes = entryBytes(limits_.dims, query, answer);
  if (bytes > limits_.max_entry_bytes) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = partitions_[key];
  try {
    if (!slot) {
      slot = std::make_unique<Partition>();
      slot->key = key;
      slot->capacity = kInitialCapacity;
      slot->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), slot->capacity, limits_.hnsw_m,
                                                                      limits_.ef_construction);
      slot->index->setEf(limits_.ef_search);
      bytes_ += slot->capacity * slotBytes();
    }
    Partition* p = slot.get();
    size_t label = p->slots.size();
    if (!p->free_labels.empty()) {
      label = p->free_labels.back();
    } else if (label >= p->capacity) {
      p->index->resizeIndex(p->capacity * 2);
      bytes_ += p->capacity * slotBytes();
      p->capacity *= 2;
    }
    std::vector<uint8_t> quantized(quantizedBytes(limits_.dims));
    quantize(vector, limits_.dims, quantized.data());
    p->index->addPoint(quantized.data(), label);
    if (label == p->slots.size()) p->slots.emplace_back();
    else p->free_labels.pop_back();
    auto e = std::make_unique<Entry>();
    e->vector.assign(vector, vector + limits_.dims);
    e->query = std::move(query);
    e->marks = std::move(marks);
    e->answer = std::move(answer);
    e->expires_ns = expires_ns;
    e->bytes = bytes;
    lru_.emplace_front(p, label);
    e->lru = lru_.begin();
    p->slots[label] = std::move(e);
    ++p->live;
    ++entries_;
    bytes_ += bytes;
  } catch (const std::exception&) {
    // Out of memory in the index: the answer is simply not cached.
    if (slot && slot->live == 0) {
      bytes_ -= slot->capacity * slotBytes();
      partitions_.erase(key);
    }
    return false;
  }
  evictOverBounds();
  return true;
}

void SemanticStore::remove(Partition* p, size_t label) {
  std::unique_ptr<Entry> e = std::move(p->slots[label]);
  lru_.erase(e->lru);
  p->index->markDelete(label);
  p->free_labels.push_back(label);
  --p->live;
  --entries_;
  bytes_ -= e->bytes;
  if (p->live == 0) {  // an empty partition gives its whole index back
    bytes_ -= p->capacity * slotBytes();
    std::string key = p->key;  // not a reference into the node being erased
    partitions_.erase(key);
  }
}

void SemanticStore::evictOverBounds() {
  while (!lru_.empty() && (entries_ > limits_.max_entries || bytes_ > limits_.max_bytes)) {
    auto [p, label] = lru_.back();
    remove(p, label);
    ++evictions_;
  }
}

void SemanticStore::setSearchBreadthForTest(size_t ef) {
  std::lock_guard<std::mutex> lock(mu_);
  limits_.ef_search = ef;
  for (auto& [key, p] : partitions_) p->index->setEf(ef);
}

StoreCounts SemanticStore::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {entries_, partitions_.size(), bytes_, evictions_, expirations_};
}

}  // namespace outrigger::semantic
