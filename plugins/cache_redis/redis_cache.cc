// cache.redis: the exact cache shared by every sidecar of a deployment. The key is the same
// canonical serialisation as cache.memory's (tenant first), hashed with XXH3-128 into a Redis key
// under the deployment's prefix and the tenant's own namespace; the value holds the full key,
// compared on every hit. Redis down or slow is a miss (counted), never a failed request.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include <xxhash.h>

#include "bounded_json.h"
#include "cache_key.h"
#include "redis_client.h"
#include "stored_answer.h"

namespace {

using namespace outrigger::plugin;
using outrigger::redis::hex64;
using outrigger::redis::RedisClient;
using outrigger::redis::RedisResult;
using outrigger::redis::RedisStats;

const std::string kSchemaText = std::string(R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "ttl_ms": {"type": "integer", "minimum": 1, "maximum": 31536000000, "description": "default time to live"},
    "max_entry_bytes": {"type": "integer", "minimum": 64, "maximum": 536870912, "description": "larger answers are not stored"},
    "redis": )json") + outrigger::redis::kRedisSettingsSchema + R"json(
  }
})json";

struct CacheCounters {
  std::atomic<uint64_t> hits{0}, misses{0}, errors{0}, stores{0}, store_errors{0}, too_large{0}, corrupt{0};
};

class RedisCache final : public Cache {
 public:
  static constexpr const char* kName = "redis";
  static constexpr const char* kDescription = "Exact answer cache in Redis, shared by a deployment's sidecars: tenant-scoped keys, TTL, full key compared";
  static inline const char* const kConfigSchema = kSchemaText.c_str();
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  RedisCache(Host host, std::string_view name, std::string_view config) : Cache(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    if (d.HasMember("ttl_ms")) ttl_ms_ = d["ttl_ms"].GetUint64();
    if (d.HasMember("max_entry_bytes")) max_entry_bytes_ = d["max_entry_bytes"].GetUint64();
    outrigger::redis::RedisSettings settings;
    if (d.HasMember("redis")) settings = outrigger::redis::parseRedisSettings(d["redis"]);
    redis_ = std::make_unique<RedisClient>(host, std::move(settings), stats_);
    redis_->start();
  }

  outrigger_status lookup(const outrigger_request_view& req) override {
    std::string key = outrigger::cache::canonicalKey(req);
    std::string redis_key = redisKey(req, key);
    Host h = host();
    outrigger_request handle = req.handle;
    auto counters = counters_;
    redis_->command({"GET", redis_key}, [h, handle, counters, key = std::move(key)](const RedisResult& r) {
      if (r.failure != outrigger::redis::RedisFailure::kNone || !r.reply || r.reply->type == REDIS_REPLY_ERROR) {
        counters->errors.fetch_add(1);
        h.cacheDone(handle, nullptr);
        return;
      }
      std::optional<outrigger::cache::StoredAnswer> a;
      if (r.reply->type == REDIS_REPLY_STRING) {
        a = outrigger::cache::decodeAnswer(std::string_view(r.reply->str, r.reply->len));
        if (!a) counters->corrupt.fetch_add(1);
      }
      if (!a || a->key != key) {  // absent, undecodable, or a hash collision: a miss
        counters->misses.fetch_add(1);
        h.cacheDone(handle, nullptr);
        return;
      }
      counters->hits.fetch_add(1);
      outrigger::cache::answerHit(h, handle, *a);
    });
    return OUTRIGGER_PENDING;
  }

  void store(const outrigger_request_view& req, const outrigger_response_view& resp) override {
    if (!outrigger::cache::worthStoring(resp)) return;
    std::string key = outrigger::cache::canonicalKey(req);
    std::string redis_key = redisKey(req, key);
    std::string value = outrigger::cache::encodeAnswer(outrigger::cache::storedFrom(std::move(key), resp));
    if (value.size() > max_entry_bytes_) {
      counters_->too_large.fetch_add(1);
      return;
    }
    uint64_t ttl = req.cache_ttl_ms ? req.cache_ttl_ms : ttl_ms_;
    auto counters = counters_;
    redis_->command({"SET", redis_key, value, "PX", std::to_string(ttl)}, [counters](const RedisResult& r) {
      if (r.ok()) counters->stores.fetch_add(1);
      else counters->store_errors.fetch_add(1);  // a lookup's errors are counted apart
    });
  }

  void reportMetrics(const MetricsWriter& out) override {
    const auto& c = *counters_;
    out.counter("redis_cache_lookups_total", "cache.redis lookups by result.", {{"result", "hit"}}, double(c.hits));
    out.counter("redis_cache_lookups_total", "cache.redis lookups by result.", {{"result", "miss"}}, double(c.misses));
    out.counter("redis_cache_lookups_total", "cache.redis lookups by result.", {{"result", "error"}}, double(c.errors));
    out.counter("redis_cache_stores_total", "Answers written to Redis, by result.", {{"result", "stored"}}, double(c.stores));
    out.counter("redis_cache_stores_total", "Answers written to Redis, by result.", {{"result", "error"}}, double(c.store_errors));
    out.counter("redis_cache_skipped_total", "Answers not stored or values not read, by why.", {{"reason", "too_large"}}, double(c.too_large));
    out.counter("redis_cache_skipped_total", "Answers not stored or values not read, by why.", {{"reason", "undecodable"}}, double(c.corrupt));
    outrigger::redis::reportRedisStats(out, *stats_);
  }

 private:
  // <prefix>cache:<tenant hash>:<key hash>: a tenant's entries share a namespace (SCAN can find
  // and drop them), and the canonical key inside the value starts with the tenant anyway.
  std::string redisKey(const outrigger_request_view& req, const std::string& canonical) const {
    std::string_view tenant = req.metadata ? view(req.metadata->tenant) : std::string_view();
    outrigger::cache::KeyHash k = outrigger::cache::hashKey(canonical);
    return redis_->key("cache:" + hex64(XXH3_64bits(tenant.data(), tenant.size())) + ":" + hex64(k.hi) + hex64(k.lo));
  }

  uint64_t ttl_ms_ = 600000;
  uint64_t max_entry_bytes_ = 1u << 20;
  std::shared_ptr<RedisStats> stats_ = std::make_shared<RedisStats>();
  std::shared_ptr<CacheCounters> counters_ = std::make_shared<CacheCounters>();
  std::unique_ptr<RedisClient> redis_;
};

}  // namespace

OUTRIGGER_PLUGIN("cache_redis", "1.0.0", outrigger::plugin::typeOf<RedisCache>())
