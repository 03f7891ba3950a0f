// cache.memory: an exact answer cache shared by all workers. LRU bounded by bytes, TTL per
// entry (the request's cache ttl wins), sharded locks. Keys include the tenant, so one tenant
// never sees another's answers.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <array>
#include <list>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "bounded_json.h"
#include "cache_key.h"
#include "stored_answer.h"

namespace {

using namespace outrigger::plugin;
using outrigger::cache::KeyHash;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_bytes": {"type": "integer", "minimum": 1024, "maximum": 1099511627776, "description": "memory bound over keys and answers"},
    "ttl_ms": {"type": "integer", "minimum": 1, "maximum": 31536000000, "description": "default time to live"},
    "max_entry_bytes": {"type": "integer", "minimum": 1, "maximum": 1099511627776, "description": "larger answers are not cached"}
  }
})json";

struct Entry {
  KeyHash hash;
  outrigger::cache::StoredAnswer answer;  // answer.key is compared on every hit
  uint64_t expires_ns = 0;
  size_t bytes() const { return outrigger::cache::storedBytes(answer); }
};

struct HashOf {
  size_t operator()(const KeyHash& h) const { return static_cast<size_t>(h.lo); }
};

class Shard {
 public:
  // Copies the entry out under the lock; false on miss or expiry.
  bool get(const KeyHash& h, const std::string& key, uint64_t now, Entry* out) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(h);
    if (it == index_.end()) return false;
    Entry& e = *it->second;
    if (e.expires_ns <= now || e.answer.key != key) {
      if (e.expires_ns <= now) erase(it);
      return false;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    *out = e;
    return true;
  }

  void put(Entry e, size_t budget) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = index_.find(e.hash); it != index_.end()) erase(it);
    bytes_ += e.bytes();
    lru_.push_front(std::move(e));
    index_[lru_.front().hash] = lru_.begin();
    while (bytes_ > budget && !lru_.empty()) erase(index_.find(lru_.back().hash));
  }

 private:
  using List = std::list<Entry>;
  void erase(std::unordered_map<KeyHash, List::iterator, HashOf>::iterator it) {
    bytes_ -= it->second->bytes();
    lru_.erase(it->second);
    index_.erase(it);
  }

  std::mutex mu_;
  List lru_;
  std::unordered_map<KeyHash, List::iterator, HashOf> index_;
  size_t bytes_ = 0;
};

class MemoryCache final : public Cache {
 public:
  static constexpr const char* kName = "memory";
  static constexpr const char* kDescription = "Exact answer cache in memory: tenant-scoped keys, LRU by bytes, TTL";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_SHARED_INSTANCE;

  MemoryCache(Host host, std::string_view name, std::string_view config) : Cache(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    if (d.HasMember("max_bytes")) max_bytes_ = d["max_bytes"].GetUint64();
    if (d.HasMember("ttl_ms")) ttl_ms_ = d["ttl_ms"].GetUint64();
    if (d.HasMember("max_entry_bytes")) max_entry_bytes_ = d["max_entry_bytes"].GetUint64();
  }

  outrigger_status lookup(const outrigger_request_view& req) override {
    std::string key = outrigger::cache::canonicalKey(req);
    KeyHash h = outrigger::cache::hashKey(key);
    Entry e;
    if (!shard(h).get(h, key, host().nowNs(), &e)) return OUTRIGGER_CONTINUE;
    outrigger::cache::answerHit(host(), req.handle, e.answer);
    return OUTRIGGER_PENDING;
  }

  void store(const outrigger_request_view& req, const outrigger_response_view& resp) override {
    if (!outrigger::cache::worthStoring(resp)) return;
    Entry e;
    e.answer = outrigger::cache::storedFrom(outrigger::cache::canonicalKey(req), resp);
    e.hash = outrigger::cache::hashKey(e.answer.key);
    uint64_t ttl = req.cache_ttl_ms ? req.cache_ttl_ms : ttl_ms_;
    e.expires_ns = host().nowNs() + ttl * 1000000;
    // An entry past its shard's share of max_bytes would evict every other entry of the shard,
    // then itself: not stored, like one past max_entry_bytes.
    if (e.bytes() > max_entry_bytes_ || e.bytes() > max_bytes_ / kShards) return;
    shard(e.hash).put(std::move(e), max_bytes_ / kShards);
  }

 private:
  static constexpr size_t kShards = 16;
  Shard& shard(const KeyHash& h) { return shards_[h.hi % kShards]; }

  uint64_t max_bytes_ = 64u << 20;
  uint64_t ttl_ms_ = 600000;
  uint64_t max_entry_bytes_ = 1u << 20;
  std::array<Shard, kShards> shards_;
};

}  // namespace

OUTRIGGER_PLUGIN("cache_memory", "1.0.0", outrigger::plugin::typeOf<MemoryCache>())
