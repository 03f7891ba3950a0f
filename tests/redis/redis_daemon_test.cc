// cache.redis and limiter.redis through real daemons sharing one real redis-server on a loopback
// port (started per test): hits shared between two sidecar processes and never across tenants,
// the full key compared on a hit, limits and budgets that hold for the fleet rather than for each
// sidecar, a dead sidecar's slot returned by its lease, and Redis killed and restarted mid-run
// (no crash, no hung request, the configured failure mode, recovery).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <cmath>
#include <csignal>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "redis_server.h"
#include "stored_answer.h"
#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "support/socket_answer.h"

using namespace outrigger;
using namespace outrigger::testing;
using client::StatusCode;
using namespace std::chrono_literals;

namespace {

std::string redisBlock(const RedisServer& redis, const std::string& instance, const std::string& extra = "") {
  return "[instances." + instance + ".config.redis]\nport = " + std::to_string(redis.port()) +
         "\nkey_prefix = \"fleet-test:\"\ncommand_timeout_ms = 500\nconnect_timeout_ms = 1000\n"
         "reconnect_min_ms = 20\nreconnect_max_ms = 200\n" + extra;
}

// The default route (mock, echo) with the shared cache.
std::string cacheConfig(const RedisServer& redis) {
  return basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                     "cache = \"shared\"\n"
                     "[instances.shared]\ntype = \"cache.redis\"\n[instances.shared.config]\nttl_ms = 60000\n" +
                         redisBlock(redis, "shared") + "[admin]\nlisten = \"127.0.0.1:0\"\n");
}

// The default route behind one limiter.redis instance `fleet` with `limits` (TOML lines).
std::string limiterConfig(const RedisServer& redis, const std::string& limits, const std::string& route_extra = "",
                          const std::string& redis_extra = "") {
  return basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                     "limiters = [\"fleet\"]\n" + route_extra +
                         "[instances.fleet]\ntype = \"limiter.redis\"\n[instances.fleet.config]\n" +
                         (limits.find("lease_ms") == std::string::npos ? "lease_ms = 1000\n" : "") + limits +
                         redisBlock(redis, "fleet", redis_extra) + "[admin]\nlisten = \"127.0.0.1:0\"\n");
}

client::ChatRequest as(const std::string& tenant, const std::string& text, const std::string& mock = "") {
  client::ChatRequest r = ask(text, mock);
  client::Metadata m;
  m.tenant = tenant;
  r.metadata = m;
  return r;
}

struct Sidecar {
  DaemonProcess daemon;
  std::optional<client::Client> client;
  explicit Sidecar(const std::string& config) : daemon(config) {
    REQUIRE(daemon.waitReady());
    client.emplace(at(daemon));
    REQUIRE_FALSE(client->connect());
  }
  client::Result<client::Response> chat(const client::ChatRequest& r) { return client->chat(r); }
};

// Until the sidecar's pool is connected (first use may come before the connections are up).
void awaitConnected(const Sidecar& s, const std::string& instance = "shared") {
  std::string series = "outrigger_redis_connections_up{plugin_instance=\"" + instance + "\"}";
  for (int i = 0; i < 200 && adminMetric(s.daemon, series) < 4; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(adminMetric(s.daemon, series) == 4);  // 2 workers x a pool of 2
}

// The slots fleet-test's one limiter key holds in Redis ("0" when the key is gone), once it reads
// `want` or `within` has passed.
std::string slotsHeldOnceAt(const RedisServer& redis, const std::string& want, std::chrono::milliseconds within) {
  auto held = [&] {
    std::vector<std::string> keys = redis.keys("fleet-test:limit:*:slots");
    return keys.empty() ? std::string("0") : redis.call({"ZCARD", keys[0]});
  };
  std::string slots = held();
  for (auto until = std::chrono::steady_clock::now() + within; slots != want && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    slots = held();
  }
  return slots;
}

}  // namespace

TEST_CASE("cache.redis: two sidecars share hits, and another tenant asking the same never gets one") {
  RedisServer redis;
  Sidecar a(cacheConfig(redis)), b(cacheConfig(redis));
  awaitConnected(a);
  awaitConnected(b);

  auto first = a.chat(as("acme", "what is the capital of France?"));
  REQUIRE(first.ok());
  CHECK_FALSE(first.value().cache_hit);
  // The store is sent after the answer; wait until it is in Redis.
  for (int i = 0; i < 100 && redis.keys("fleet-test:cache:*").empty(); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(redis.keys("fleet-test:cache:*").size() == 1);

  auto shared = b.chat(as("acme", "what is the capital of France?"));
  REQUIRE(shared.ok());
  CHECK(shared.value().cache_hit);
  CHECK(shared.value().content == first.value().content);
  CHECK(shared.value().cost_usd == 0);

  auto other = b.chat(as("globex", "what is the capital of France?"));
  REQUIRE(other.ok());
  CHECK_FALSE(other.value().cache_hit);
  for (int i = 0; i < 100 && redis.keys("fleet-test:cache:*").size() < 2; ++i) std::this_thread::sleep_for(10ms);
  std::vector<std::string> keys = redis.keys("fleet-test:cache:*");
  REQUIRE(keys.size() == 2);
  // Each tenant's entries live in its own namespace.
  CHECK(keys[0].substr(0, 34) != keys[1].substr(0, 34));
  CHECK(adminMetric(b.daemon, "outrigger_redis_cache_lookups_total{plugin_instance=\"shared\",result=\"hit\"}") == 1);
}

TEST_CASE("cache.redis: a streaming request on the other sidecar gets the shared hit as chunks") {
  RedisServer redis;
  Sidecar a(cacheConfig(redis)), b(cacheConfig(redis));
  awaitConnected(a);
  awaitConnected(b);
  RequestSpec spec;
  spec.tenant = "acme";
  spec.messages = {{"user", "stream me the cached answer please"}};
  SocketAnswer unary = socketExchange(a.daemon, spec, "");
  REQUIRE(unary.status == 0);
  for (int i = 0; i < 100 && redis.keys("fleet-test:cache:*").empty(); ++i) std::this_thread::sleep_for(10ms);
  spec.stream = true;
  SocketAnswer streamed = socketExchange(b.daemon, spec, "");
  REQUIRE(streamed.status == 0);
  CHECK_FALSE(streamed.chunks.empty());
  CHECK(streamed.streamed == unary.content);
  CHECK(adminMetric(b.daemon, "outrigger_redis_cache_lookups_total{plugin_instance=\"shared\",result=\"hit\"}") == 1);
}

TEST_CASE("cache.redis: the request's TTL, no-store and bypass are honoured, and answers over max_entry_bytes are not stored") {
  RedisServer redis;
  std::string config = basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                                   "cache = \"shared\"\n[instances.shared]\ntype = \"cache.redis\"\n"
                                   "[instances.shared.config]\nttl_ms = 60000\nmax_entry_bytes = 600\n" +
                                       redisBlock(redis, "shared") + "[admin]\nlisten = \"127.0.0.1:0\"\n");
  Sidecar a(config);
  awaitConnected(a);
  auto stored = [&](size_t n) {
    for (int i = 0; i < 100 && redis.keys("fleet-test:cache:*").size() < n; ++i) std::this_thread::sleep_for(10ms);
    return redis.keys("fleet-test:cache:*").size();
  };

  client::ChatRequest short_lived = as("acme", "short lived");
  short_lived.cache_ttl_ms = 1500;
  REQUIRE(a.chat(short_lived).ok());
  REQUIRE(stored(1) == 1);
  long long pttl = std::stoll(redis.call({"PTTL", redis.keys("fleet-test:cache:*")[0]}));
  CHECK(pttl > 0);
  CHECK(pttl <= 1500);  // the request's TTL, not the instance's 60 s

  client::ChatRequest not_kept = as("acme", "not kept");
  not_kept.cache_no_store = true;
  REQUIRE(a.chat(not_kept).ok());
  client::ChatRequest around = as("acme", "short lived");
  around.cache_bypass = true;
  auto bypassed = a.chat(around);
  REQUIRE(bypassed.ok());
  CHECK_FALSE(bypassed.value().cache_hit);  // stored, but bypass does not look
  CHECK(a.chat(as("acme", "short lived")).value().cache_hit);

  // The echo answer repeats the prompt: a long prompt makes a value over 600 bytes.
  REQUIRE(a.chat(as("acme", std::string(700, 'x'))).ok());
  std::this_thread::sleep_for(100ms);
  CHECK(stored(2) == 1);  // neither the no-store answer nor the large one
  CHECK(adminMetric(a.daemon, "outrigger_redis_cache_skipped_total{plugin_instance=\"shared\",reason=\"too_large\"}") == 1);

  std::this_thread::sleep_for(1600ms);
  CHECK(redis.keys("fleet-test:cache:*").empty());  // Redis expired it
  CHECK_FALSE(a.chat(as("acme", "short lived")).value().cache_hit);
}

TEST_CASE("cache.redis: a stored value whose full key differs is a miss, the same value with its key intact is served") {
  RedisServer redis;
  Sidecar a(cacheConfig(redis));
  awaitConnected(a);
  REQUIRE(a.chat(as("acme", "tell me a fact")).ok());
  for (int i = 0; i < 100 && redis.keys("fleet-test:cache:*").empty(); ++i) std::this_thread::sleep_for(10ms);
  std::vector<std::string> keys = redis.keys("fleet-test:cache:*");
  REQUIRE(keys.size() == 1);
  std::optional<cache::StoredAnswer> stored = cache::decodeAnswer(redis.call({"GET", keys[0]}));
  REQUIRE(stored);

  // The value another request would have stored under the same hash: a collision.
  cache::StoredAnswer forged = *stored;
  forged.content = "POISONED";
  forged.key[forged.key.size() - 1] ^= 1;
  redis.call({"SET", keys[0], cache::encodeAnswer(forged)});
  auto r = a.chat(as("acme", "tell me a fact"));
  REQUIRE(r.ok());
  CHECK_FALSE(r.value().cache_hit);
  CHECK(r.value().content != "POISONED");

  // The same bytes with the key intact are a hit: the comparison above is what refused it.
  forged.key = stored->key;
  redis.call({"SET", keys[0], cache::encodeAnswer(forged)});
  auto hit = a.chat(as("acme", "tell me a fact"));
  REQUIRE(hit.ok());
  CHECK(hit.value().cache_hit);
  CHECK(hit.value().content == "POISONED");

  redis.call({"SET", keys[0], "not an answer"});
  auto garbage = a.chat(as("acme", "tell me a fact"));
  REQUIRE(garbage.ok());
  CHECK_FALSE(garbage.value().cache_hit);
}

TEST_CASE("cache.redis: with Redis killed answers go on as misses without waiting, and hits come back after a restart") {
  RedisServer redis;
  Sidecar a(cacheConfig(redis)), b(cacheConfig(redis));
  awaitConnected(a);
  awaitConnected(b);
  REQUIRE(a.chat(as("acme", "before the outage")).ok());

  redis.kill();
  for (int i = 0; i < 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = (i % 2 ? a : b).chat(as("acme", "during the outage " + std::to_string(i % 3)));
    REQUIRE(r.ok());
    CHECK_FALSE(r.value().cache_hit);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);  // at most the command timeout (500 ms)
  }
  CHECK(a.daemon.alive());
  CHECK(b.daemon.alive());
  CHECK(adminMetric(b.daemon, "outrigger_redis_cache_lookups_total{plugin_instance=\"shared\",result=\"error\"}") >= 1);

  redis.restart();  // empty: what was stored before is gone
  bool hit = false;
  for (int i = 0; i < 100 && !hit; ++i) {
    auto stored = a.chat(as("acme", "after the outage"));
    REQUIRE(stored.ok());
    std::this_thread::sleep_for(20ms);
    auto r = b.chat(as("acme", "after the outage"));
    REQUIRE(r.ok());
    hit = r.value().cache_hit;
  }
  CHECK(hit);
  CHECK(adminMetric(a.daemon, "outrigger_redis_reconnects_total{plugin_instance=\"shared\"}") >= 1);
}

// A store Redis refuses (out of memory here) is a store's error: counted as a lookup's, the
// lookups read one miss and one error for a single request.
TEST_CASE("cache.redis: a store Redis refuses is counted as a failed store, not as a failed lookup") {
  RedisServer redis;
  REQUIRE(redis.call({"CONFIG", "SET", "maxmemory-policy", "noeviction"}) == "OK");
  REQUIRE(redis.call({"CONFIG", "SET", "maxmemory", "1"}) == "OK");
  Sidecar a(cacheConfig(redis));
  awaitConnected(a);
  REQUIRE(a.chat(as("acme", "nothing fits")).ok());
  const std::string store_errors = "outrigger_redis_cache_stores_total{plugin_instance=\"shared\",result=\"error\"}";
  for (int i = 0; i < 200 && adminMetric(a.daemon, store_errors) < 1; ++i) std::this_thread::sleep_for(10ms);
  CHECK(adminMetric(a.daemon, store_errors) == 1);
  CHECK(adminMetric(a.daemon, "outrigger_redis_cache_lookups_total{plugin_instance=\"shared\",result=\"miss\"}") == 1);
  CHECK(adminMetric(a.daemon, "outrigger_redis_cache_lookups_total{plugin_instance=\"shared\",result=\"error\"}") == 0);
}

TEST_CASE("limiter.redis: two sidecars admit a tenant's requests per minute that many times in all, limiter.memory that many on each") {
  RedisServer redis;
  Sidecar a(limiterConfig(redis, "rpm = 4\n")), b(limiterConfig(redis, "rpm = 4\n"));
  int ok = 0;
  for (int i = 0; i < 8; ++i) {
    auto r = (i % 2 ? b : a).chat(as("acme", "q" + std::to_string(i)));
    if (r.ok()) {
      ++ok;
    } else {
      CHECK(r.error().code == StatusCode::kResourceExhausted);
      CHECK(r.error().message.find("fleet-wide request rate limit (4 per minute)") != std::string::npos);
    }
  }
  CHECK(ok == 4);
  CHECK(b.chat(as("globex", "another tenant")).ok());

  // The same limit kept in each process's memory: each sidecar admits its own 4.
  std::string local = basicConfig("mode = \"echo\"", "limiters = [\"per_process\"]\n"
                                  "[instances.per_process]\ntype = \"limiter.memory\"\n[instances.per_process.config]\nrpm = 4\n");
  Sidecar c(local), d(local);
  int local_ok = 0;
  for (int i = 0; i < 8; ++i) local_ok += (i % 2 ? d : c).chat(as("acme", "q" + std::to_string(i))).ok();
  CHECK(local_ok == 8);
}

// A prompt larger than the whole tokens-per-minute bucket is admitted once the bucket is full and
// leaves it in debt. Its Redis key expired after 61 s whatever the debt, which forgave the rest:
// the fleet then admitted more than its limit. The key now lives until the bucket is full again.
TEST_CASE("limiter.redis: a bucket in debt is kept until it has refilled, not forgotten after a minute") {
  RedisServer redis;
  Sidecar a(limiterConfig(redis, "tpm = 100\n"));
  std::string prompt;
  for (int i = 0; i < 500; ++i) prompt += "word ";
  REQUIRE(a.chat(as("acme", prompt)).ok());
  auto refused = a.chat(as("acme", "short"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == StatusCode::kResourceExhausted);
  std::vector<std::string> rate_keys;
  for (const std::string& key : redis.keys("fleet-test:*")) {
    if (key.size() > 5 && key.compare(key.size() - 5, 5, ":rate") == 0) rate_keys.push_back(key);
  }
  REQUIRE(rate_keys.size() == 1);
  // About 400 tokens of debt at 100 a minute: five more minutes before the bucket is full.
  long long ttl_ms = std::stoll(redis.call({"PTTL", rate_keys[0]}));
  INFO("PTTL " << ttl_ms << " tt " << redis.call({"HGET", rate_keys[0], "tt"}));
  CHECK(ttl_ms > 3 * 60000);
}

// The token reservation is the prompt and all of max_tokens, and an attempt cut short settles to
// it: a caller's max_tokens of four billion left the key that far in debt, for years.
TEST_CASE("limiter.redis: a request cut short with a huge max_tokens leaves its key at most one bucket in debt") {
  RedisServer redis;
  Sidecar a(limiterConfig(redis, "tpm = 1000\n"));
  client::ChatRequest huge = as("acme", "cut me short", R"({"latency_ms": 5000})");
  huge.max_tokens = 4000000000u;
  huge.timeout = 300ms;
  auto cut = a.chat(huge);
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().code == StatusCode::kDeadlineExceeded);
  std::vector<std::string> rate = redis.keys("fleet-test:limit:*:rate");
  REQUIRE(rate.size() == 1);
  double tt = std::stod(redis.call({"HGET", rate[0], "tt"}));
  INFO("tt " << tt << " PTTL " << redis.call({"PTTL", rate[0]}));
  CHECK(tt >= -1);  // the whole bucket at most, refilling from 0
  CHECK(std::stoll(redis.call({"PTTL", rate[0]})) <= 62000);
}

// An attempt cut short in flight may have been billed for anything up to its worst case, as
// limiter.budget charges it; and with no cap on the answer known, the worst case is
// default_max_output_tokens of it, not the prompt alone.
TEST_CASE("limiter.redis: an attempt cut short is charged its worst case, which counts default_max_output_tokens") {
  RedisServer redis;
  std::string priced = "[prices.\"mock/mock-1\"]\ninput = 0.001\noutput = 0.002\n";
  Sidecar a(limiterConfig(redis, "budget_usd = 5\ndefault_max_output_tokens = 50\n", "model = \"mock-1\"\n") + priced);
  client::ChatRequest slow = as("acme", "cut me short", R"({"latency_ms": 5000})");
  slow.timeout = 1s;
  std::optional<client::Result<client::Response>> cut;
  std::thread t([&] { cut.emplace(a.chat(slow)); });
  std::string hash;
  double reserved = 0;
  for (int i = 0; i < 300 && reserved == 0; ++i) {
    for (const auto& k : redis.keys("fleet-test:limit:*:budget:*")) {
      if (k.find(":leases") == std::string::npos) hash = k;
    }
    if (!hash.empty()) {
      std::string r = redis.call({"HGET", hash, "reserved"});
      reserved = r.empty() || r == "nil" ? 0 : std::stod(r);
    }
    if (reserved == 0) std::this_thread::sleep_for(10ms);
  }
  t.join();
  REQUIRE(cut);
  REQUIRE_FALSE(cut->ok());
  CHECK(cut->error().code == StatusCode::kDeadlineExceeded);
  std::string spent;
  auto none = [](const std::string& v) { return v.empty() || v == "nil"; };
  for (int i = 0; i < 300 && none(spent = redis.call({"HGET", hash, "spent"})); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE_FALSE(none(spent));
  // One attempt's worst case: 50 answer tokens at $0.002 and a short prompt at $0.001 a token.
  // The reservation holds it for each attempt the route may bill (billed_attempts).
  double worst = std::stod(spent);
  CHECK(worst >= 0.1);
  CHECK(worst < 0.13);
  CHECK(reserved >= worst - 1e-9);
  CHECK(std::abs(reserved / worst - std::round(reserved / worst)) < 1e-6);
}

// limiter.redis admits asynchronously. A request waiting in the route's queue that was asked
// again left the queue while Redis answered, and came back at its end with a fresh timeout: with
// other requests ending meanwhile it never reached queue_timeout_ms and waited for its deadline.
TEST_CASE("limiter.redis: a queued request asked again keeps its place and gives up at queue_timeout_ms") {
  RedisServer redis;
  Sidecar a(limiterConfig(redis, "max_concurrent = 1\n",
                          "limits = { on_limit = \"queue\", queue_max = 4, queue_timeout_ms = 600 }\n"));
  std::optional<client::Result<client::Response>> holder;
  std::thread hold([&] { holder.emplace(a.chat(as("acme", "holder", R"({"latency_ms": 3000})"))); });
  REQUIRE(slotsHeldOnceAt(redis, "1", 5s) == "1");
  std::atomic<bool> done{false};
  std::thread traffic([&] {  // other tenants' requests end every 50 ms, waking the queue
    for (int i = 0; !done; ++i) {
      a.chat(as("tenant" + std::to_string(i), "quick"));
      std::this_thread::sleep_for(50ms);
    }
  });
  client::ChatRequest waiter = as("acme", "waiter");
  waiter.timeout = 2500ms;
  auto started = std::chrono::steady_clock::now();
  auto r = a.chat(waiter);
  auto waited = std::chrono::steady_clock::now() - started;
  done = true;
  traffic.join();
  hold.join();
  REQUIRE_FALSE(r.ok());
  INFO(r.error().message);
  CHECK(r.error().code == StatusCode::kResourceExhausted);
  CHECK(r.error().message.find("waited in the queue until its timeout") != std::string::npos);
  CHECK(waited < 1500ms);
  REQUIRE(holder);
  CHECK(holder->ok());
}

TEST_CASE("limiter.redis: a cache hit gives its request back, and a slot held on one sidecar is held for the fleet") {
  RedisServer redis;
  std::string limits = "rpm = 3\nmax_concurrent = 1\n";
  std::string with_cache = "cache = \"memo\"\n[instances.memo]\ntype = \"cache.memory\"\n";
  Sidecar a(limiterConfig(redis, limits, with_cache)), b(limiterConfig(redis, limits, with_cache));
  // Each request ends by settling, sent when it ends, maybe on another pooled connection than the
  // next admission: wait until Redis has it (its slot gone, its request back if it made no
  // attempt: the bucket back above 1.9 of 3).
  auto settled = [&] {
    for (int i = 0; i < 200; ++i) {
      std::vector<std::string> rate = redis.keys("fleet-test:limit:*:rate");
      bool slot_free = redis.keys("fleet-test:limit:*:slots").empty();
      if (slot_free && !rate.empty() && std::stod(redis.call({"HGET", rate[0], "rt"})) >= 1.9) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  REQUIRE(a.chat(as("acme", "cached question")).ok());
  REQUIRE(settled());
  // Hits on the same sidecar make no attempt: their request goes back, so more than 3 pass.
  for (int i = 0; i < 4; ++i) {
    auto r = a.chat(as("acme", "cached question"));
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    CHECK(r.value().cache_hit);
    CHECK(settled());
  }
  std::optional<client::Result<client::Response>> slow;
  std::thread t([&] { slow.emplace(a.chat(as("acme", "slow one", R"({"latency_ms": 1500})"))); });
  for (int i = 0; i < 200 && redis.call({"ZCARD", redis.keys("fleet-test:limit:*:slots").empty() ? "x" : redis.keys("fleet-test:limit:*:slots")[0]}) != "1"; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto refused = b.chat(as("acme", "while the slow one runs"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == StatusCode::kResourceExhausted);
  CHECK(refused.error().message.find("concurrency limit (1 in flight)") != std::string::npos);
  t.join();
  REQUIRE(slow->ok());
  // Redis drops the slot set with its last member.
  for (int i = 0; i < 200 && !redis.keys("fleet-test:limit:*:slots").empty(); ++i) std::this_thread::sleep_for(10ms);
  // The slow request settled: its slot is free; with it the minute's 3 requests are spent.
  CHECK(b.chat(as("acme", "after the slow one")).ok());
  auto spent = b.chat(as("acme", "one more"));
  REQUIRE_FALSE(spent.ok());
  CHECK(spent.error().message.find("request rate limit (3 per minute)") != std::string::npos);
}

TEST_CASE("limiter.redis: a request cut short by its deadline gives its slot back at once, not at its lease") {
  RedisServer redis;
  std::string limits = "max_concurrent = 1\nlease_ms = 60000\n";
  Sidecar a(limiterConfig(redis, limits)), b(limiterConfig(redis, limits));
  client::ChatRequest slow = as("acme", "too slow", R"({"latency_ms": 5000})");
  slow.timeout = 300ms;
  auto cut = a.chat(slow);
  REQUIRE_FALSE(cut.ok());
  CHECK(cut.error().code == StatusCode::kDeadlineExceeded);
  std::string slots;
  for (int i = 0; i < 100; ++i) {
    std::vector<std::string> keys = redis.keys("fleet-test:limit:*:slots");
    slots = keys.empty() ? "0" : redis.call({"ZCARD", keys[0]});
    if (slots == "0") break;
    std::this_thread::sleep_for(10ms);
  }
  CHECK(slots == "0");
  CHECK(b.chat(as("acme", "next")).ok());
}

TEST_CASE("limiter.redis: admissions whose answer timed out while Redis stalled are released by id, not held for the lease") {
  RedisServer redis;
  Sidecar a(limiterConfig(redis, "max_concurrent = 2\nlease_ms = 600000\n"));
  REQUIRE(a.chat(as("acme", "warm up")).ok());
  // Its settle, sent as it ended, is taken before the stall (else it is one more release by id).
  REQUIRE(slotsHeldOnceAt(redis, "0", 5s) == "0");
  // A script keeps Redis busy for four seconds: the sidecar's admits (500 ms command timeout)
  // time out, and Redis runs them once it is free, taking both slots; the sidecar closed those
  // connections, but Redis reads and runs what they sent before it sees them close. (A CLIENT
  // PAUSE would not do: Redis drops a paused client's commands when it closes.)
  std::thread stall([&] {
    redis.call({"EVAL",
                "local s = redis.call('TIME') local start = s[1] * 1000000 + s[2] "
                "repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start > 4000000 return 1",
                "0"});
  });
  bool stalled = false;
  for (auto until = std::chrono::steady_clock::now() + 3s; !stalled && std::chrono::steady_clock::now() < until;) {
    stalled = redis.busy(100ms);
  }
  REQUIRE(stalled);
  int refused = 0;
  for (int i = 0; i < 2; ++i) {
    auto r = a.chat(as("acme", "during the stall " + std::to_string(i)));
    INFO((r.ok() ? std::string("answered") : r.error().message));
    refused += !r.ok() && r.error().code == StatusCode::kUnavailable;
  }
  CHECK(redis.busy(100ms));  // both were sent while the script ran
  stall.join();
  REQUIRE(refused == 2);
  // Released within seconds (retried each second), not after the lease's ten minutes.
  CHECK(slotsHeldOnceAt(redis, "0", 20s) == "0");
  CHECK(a.chat(as("acme", "after the stall")).ok());
  const std::string taken = "outrigger_redis_limiter_lost_admissions_total{plugin_instance=\"fleet\",release=\"taken\"}";
  for (auto until = std::chrono::steady_clock::now() + 10s;
       adminMetric(a.daemon, taken) < 2 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(adminMetric(a.daemon, taken) == 2);
}

// The settle goes out as the request ends; a Redis that stalls then never answers it. The slot is
// released by id within seconds, as a lost admission's is, not held for the lease.
TEST_CASE("limiter.redis: a settle Redis did not answer is released by id, not held for the lease") {
  RedisServer redis;
  Sidecar a(limiterConfig(redis, "max_concurrent = 1\nlease_ms = 600000\n"));
  std::optional<client::Result<client::Response>> slow;
  std::thread t([&] { slow.emplace(a.chat(as("acme", "ends during the stall", R"({"latency_ms": 800})"))); });
  REQUIRE(slotsHeldOnceAt(redis, "1", 5s) == "1");  // admitted before the stall
  REQUIRE(redis.call({"CLIENT", "PAUSE", "2500", "ALL"}) == "OK");
  t.join();
  REQUIRE(slow->ok());
  const std::string settle_failures = "outrigger_redis_limiter_settle_failures_total{plugin_instance=\"fleet\"}";
  for (auto until = std::chrono::steady_clock::now() + 5s;
       adminMetric(a.daemon, settle_failures) < 1 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(adminMetric(a.daemon, settle_failures) == 1);
  CHECK(slotsHeldOnceAt(redis, "0", 20s) == "0");
  CHECK(a.chat(as("acme", "after the stall")).ok());
}

TEST_CASE("limiter.redis: a sidecar killed while holding a slot gives it back when its lease runs out") {
  RedisServer redis;
  // A lease of 4 s: long enough that the request right after the crash finds the slot still held
  // on a busy machine, short enough to wait out.
  const std::string limits = "max_concurrent = 1\nlease_ms = 4000\n";
  Sidecar a(limiterConfig(redis, limits)), b(limiterConfig(redis, limits));
  std::thread t([&] { (void)a.chat(as("acme", "never answered", R"({"latency_ms": 30000})")); });
  std::vector<std::string> slots;
  for (int i = 0; i < 200 && slots.empty(); ++i) {
    slots = redis.keys("fleet-test:limit:*:slots");
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(slots.size() == 1);
  a.daemon.signal(SIGKILL);
  a.daemon.waitExit();
  t.join();
  auto held = b.chat(as("acme", "right after the crash"));
  REQUIRE_FALSE(held.ok());
  CHECK(held.error().code == StatusCode::kResourceExhausted);
  bool freed = false;
  for (auto until = std::chrono::steady_clock::now() + 15s; !freed && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(250ms);
    freed = b.chat(as("acme", "after the lease")).ok();
  }
  CHECK(freed);
}

TEST_CASE("limiter.redis: a budget shared by two sidecars is reserved at admission and settled to the real cost") {
  RedisServer redis;
  // Echo answers cost input + output tokens at these prices; each request reserves at most
  // prompt + max_tokens x output price.
  std::string priced = "[prices.\"mock/mock-1\"]\ninput = 0.001\noutput = 0.002\n";
  std::string limits = "budget_usd = 0.2\n";
  Sidecar a(limiterConfig(redis, limits, "model = \"mock-1\"\n") + priced), b(limiterConfig(redis, limits, "model = \"mock-1\"\n") + priced);
  double spent = 0;
  int ok = 0, refused = 0;
  for (int i = 0; i < 30; ++i) {
    client::ChatRequest q = as("acme", "spend a little " + std::to_string(i));
    q.max_tokens = 20;
    auto r = (i % 2 ? b : a).chat(q);
    if (r.ok()) {
      ++ok;
      spent += r.value().cost_usd;
    } else {
      ++refused;
      CHECK(r.error().code == StatusCode::kResourceExhausted);
      CHECK(r.error().message.find("fleet-wide daily budget") != std::string::npos);
      CHECK(r.error().retry_after_ms > 0);
    }
  }
  CHECK(ok >= 2);
  CHECK(refused >= 1);
  CHECK(spent <= 0.2 + 1e-9);  // reservations keep the fleet within the budget
  // What Redis recorded is what the answers cost, and nothing is left reserved.
  std::vector<std::string> budget = redis.keys("fleet-test:limit:*:budget:*");
  std::string hash;
  for (const auto& k : budget) {
    if (k.find(":leases") == std::string::npos) hash = k;
  }
  REQUIRE_FALSE(hash.empty());
  // The last settlement is sent when its request ends: wait for it.
  for (int i = 0; i < 200 && std::abs(std::stod(redis.call({"HGET", hash, "reserved"}))) > 1e-9; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(std::stod(redis.call({"HGET", hash, "spent"})) == Approx(spent).epsilon(1e-6));
  CHECK(std::stod(redis.call({"HGET", hash, "reserved"})) == Approx(0).margin(1e-9));
}

TEST_CASE("limiter.redis: with Redis down fail_closed refuses as UNAVAILABLE at once, local falls back, and both recover") {
  RedisServer redis;
  Sidecar closed(limiterConfig(redis, "rpm = 100\n"));
  Sidecar local(limiterConfig(redis, "rpm = 100\non_unavailable = \"local\"\nlocal_fraction = 0.02\n"));
  REQUIRE(closed.chat(as("acme", "before")).ok());
  REQUIRE(local.chat(as("acme", "before")).ok());

  redis.kill();
  auto t0 = std::chrono::steady_clock::now();
  auto refused = closed.chat(as("acme", "during"));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == StatusCode::kUnavailable);
  CHECK(refused.error().message.find("cannot reach Redis") != std::string::npos);
  // local_fraction 0.02 of 100 per minute: this process alone admits 2.
  int ok = 0;
  for (int i = 0; i < 4; ++i) ok += local.chat(as("acme", "during " + std::to_string(i))).ok();
  CHECK(ok == 2);
  CHECK(adminMetric(closed.daemon, "outrigger_redis_limiter_unavailable_total{plugin_instance=\"fleet\",action=\"fail_closed\"}") >= 1);
  CHECK(adminMetric(local.daemon, "outrigger_redis_limiter_unavailable_total{plugin_instance=\"fleet\",action=\"local\"}") >= 4);
  CHECK(closed.daemon.log().find("refusing requests") != std::string::npos);

  redis.restart();
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    back = closed.chat(as("acme", "after " + std::to_string(i))).ok();
    if (!back) std::this_thread::sleep_for(30ms);
  }
  CHECK(back);
  CHECK(closed.daemon.log().find("decides admissions again") != std::string::npos);
}

TEST_CASE("limiter.redis: requests right after a reload wait for the new instance's connections, none is refused") {
  RedisServer redis;
  std::string config = limiterConfig(redis, "rpm = 1000000\n");  // fail_closed: a refusal would show
  Sidecar s(config);
  REQUIRE(s.chat(as("acme", "before")).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 6; ++t) {
    load.emplace_back([&] {
      client::Client c(at(s.daemon));
      while (!stop) (c.chat(as("acme", "q")).ok() ? ok : refused)++;
    });
  }
  // Each reload makes a new instance, whose pool connects when it starts.
  for (int generation = 2; generation <= 25; ++generation) REQUIRE(s.daemon.reload(config + "\n# " + std::to_string(generation), generation));
  stop = true;
  for (auto& t : load) t.join();
  CHECK(ok > 100);
  CHECK(refused == 0);
}

// A Redis that accepts a connection and then refuses it (maxclients here) used to count as up at
// its TCP connect, which reset the backoff: each of a sidecar's connections dialled it again every
// few tens of milliseconds, forever, logging each as a lost connection.
TEST_CASE("limiter.redis: a Redis that accepts and then refuses is dialled at the backoff's pace") {
  RedisServer redis("--maxclients 1");
  redisContext* held = redisConnect("127.0.0.1", redis.port());  // the only client Redis takes
  REQUIRE(held);
  REQUIRE(held->err == 0);
  auto rejected = [&] {
    auto* reply = static_cast<redisReply*>(redisCommand(held, "INFO stats"));
    REQUIRE(reply);
    std::string info(reply->str, reply->len);
    freeReplyObject(reply);
    size_t at = info.find("rejected_connections:");
    REQUIRE(at != std::string::npos);
    return std::stol(info.substr(at + 21));
  };
  Sidecar a(limiterConfig(redis, "rpm = 10\n"));  // 2 workers x 2 connections, backoff 20-200 ms
  std::this_thread::sleep_for(500ms);
  long before = rejected();
  std::this_thread::sleep_for(2s);
  long in_two_seconds = rejected() - before;
  // At the backoff's 200 ms ceiling (with jitter), about 10 tries per connection: 40; dialled
  // again at once it was about 150.
  CHECK(in_two_seconds <= 60);
  CHECK(a.daemon.log().find("Redis connection lost") == std::string::npos);
  CHECK(a.daemon.log().find("Redis connection failed") != std::string::npos);  // said once a reason, not at every try
  redisFree(held);
}

TEST_CASE("limiter.redis: AUTH with the right password admits, a wrong one refuses as unavailable and says why") {
  RedisServer redis("--requirepass s3cret");
  Sidecar good(limiterConfig(redis, "rpm = 10\n", "", "password = \"s3cret\"\n"));
  Sidecar bad(limiterConfig(redis, "rpm = 10\n", "", "password = \"wrong\"\n"));
  CHECK(good.chat(as("acme", "hello")).ok());
  auto r = bad.chat(as("acme", "hello"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == StatusCode::kUnavailable);
  for (int i = 0; i < 100 && bad.daemon.log().find("WRONGPASS") == std::string::npos; ++i) std::this_thread::sleep_for(10ms);
  CHECK(bad.daemon.log().find("WRONGPASS") != std::string::npos);
  // From a file, as a Kubernetes secret is mounted (its trailing newline trimmed): the literal
  // "file:..." was sent as the password.
  std::string secret_file = good.daemon.dir() + "/redis-password";
  { std::ofstream(secret_file) << "s3cret\n"; }
  Sidecar from_file(limiterConfig(redis, "rpm = 10\n", "", "password = \"file:" + secret_file + "\"\n"));
  CHECK(from_file.chat(as("acme", "hello")).ok());
}

TEST_CASE("limiter.redis: a username without a password signs in as that ACL user, not as the default user") {
  RedisServer redis("--requirepass s3cret");  // the default user needs a password
  redis.call({"ACL", "SETUSER", "fleetuser", "on", "nopass", "~*", "&*", "+@all"});
  Sidecar user(limiterConfig(redis, "rpm = 10\n", "", "username = \"fleetuser\"\n"));
  auto r = user.chat(as("acme", "hello"));
  INFO(user.daemon.log());
  CHECK(r.ok());  // without AUTH, Redis answered NOAUTH and the limiter refused as unavailable
}

TEST_CASE("limiter.redis: over TLS, a server whose certificate names the host is used, one that does not is refused") {
  RedisServer redis("", /*tls=*/true);
  std::string tls = "host = \"127.0.0.1\"\ntls = true\ntls_ca_file = \"" + redis.caFile() + "\"\n";
  Sidecar good(limiterConfig(redis, "rpm = 1\n", "", tls + "tls_server_name = \"localhost\"\n"));
  Sidecar wrong_name(limiterConfig(redis, "rpm = 1\n", "", tls + "tls_server_name = \"redis.example\"\n"));
  CHECK(good.chat(as("acme", "first")).ok());
  auto second = good.chat(as("acme", "second"));  // Redis answered: the minute's request is spent
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == StatusCode::kResourceExhausted);
  auto refused = wrong_name.chat(as("acme", "hello"));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == StatusCode::kUnavailable);
  for (int i = 0; i < 300 && wrong_name.daemon.log().find("TLS handshake") == std::string::npos; ++i) std::this_thread::sleep_for(10ms);
  CHECK(wrong_name.daemon.log().find("TLS handshake") != std::string::npos);
}

// Breakers open when things are unwell, Redis included. An opening whose publish timed out was
// taken as published and never sent again, so the fleet never learned of it.
TEST_CASE("limiter.redis: a breaker opening whose publish failed is published once Redis answers again") {
  RedisServer redis;
  std::string route = "breaker = { failure_threshold = 2, open_ms = 20000 }\n";
  Sidecar a(limiterConfig(redis, "rpm = 1000\nshare_breakers = true\nbreaker_poll_ms = 50\non_unavailable = \"local\"\n", route));
  REQUIRE(a.chat(as("acme", "warm up")).ok());
  std::thread stall([&] {  // Redis busy for two seconds: every command times out (500 ms)
    redis.call({"EVAL",
                "local s = redis.call('TIME') local start = s[1] * 1000000 + s[2] "
                "repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start > 2000000 return 1",
                "0"});
  });
  std::this_thread::sleep_for(100ms);
  const char* fail = R"({"fail": {"code": "UNAVAILABLE", "retryable": true, "message": "upstream down"}})";
  for (int i = 0; i < 2; ++i) REQUIRE_FALSE(a.chat(as("acme", "failing " + std::to_string(i), fail)).ok());
  stall.join();
  std::string shared;
  for (int i = 0; i < 300 && shared.empty(); ++i) {
    shared = redis.call({"HKEYS", "fleet-test:breakers"});
    if (shared.empty()) std::this_thread::sleep_for(10ms);
  }
  CHECK(shared.find("mock") != std::string::npos);
  CHECK(adminMetric(a.daemon, "outrigger_redis_breakers_shared_total{plugin_instance=\"fleet\",direction=\"published\"}") >= 1);
}

TEST_CASE("limiter.redis: with share_breakers a breaker opened by one sidecar's failures opens on the others for its time") {
  RedisServer redis;
  std::string route = "breaker = { failure_threshold = 2, open_ms = 2000 }\n";
  std::string shared = "rpm = 1000\nshare_breakers = true\nbreaker_poll_ms = 50\n";
  Sidecar a(limiterConfig(redis, shared, route)), b(limiterConfig(redis, shared, route));
  Sidecar alone(limiterConfig(redis, "rpm = 1000\n", route));
  const char* fail = R"({"fail": {"code": "UNAVAILABLE", "retryable": true, "message": "upstream down"}})";
  for (int i = 0; i < 2; ++i) REQUIRE_FALSE(a.chat(as("acme", "failing " + std::to_string(i), fail)).ok());
  auto tripped = a.chat(as("acme", "after the trip"));
  REQUIRE_FALSE(tripped.ok());
  CHECK(tripped.error().message.find("circuit breaker") != std::string::npos);

  // b saw no failure of its own; its breaker opens from Redis within a few polls.
  std::optional<client::Result<client::Response>> refused;
  for (int i = 0; i < 100; ++i) {
    refused.emplace(b.chat(as("acme", "on b " + std::to_string(i))));
    if (!refused->ok()) break;
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE_FALSE(refused->ok());
  CHECK(refused->error().code == StatusCode::kUnavailable);
  CHECK(refused->error().message.find("circuit breaker") != std::string::npos);
  CHECK(adminMetric(a.daemon, "outrigger_redis_breakers_shared_total{plugin_instance=\"fleet\",direction=\"published\"}") >= 1);
  CHECK(adminMetric(b.daemon, "outrigger_redis_breakers_shared_total{plugin_instance=\"fleet\",direction=\"applied\"}") >= 1);
  // A sidecar that does not share keeps its own breaker closed.
  CHECK(alone.chat(as("acme", "on the sidecar alone")).ok());

  // When the open time is over, b probes the target itself and closes again.
  std::this_thread::sleep_for(2100ms);
  CHECK(b.chat(as("acme", "after the open time")).ok());
  CHECK(b.chat(as("acme", "closed again")).ok());
}

// A fresh connection is used as soon as TCP connects, its setup commands (the PING) first: a
// lookup sent behind them waited for the PING's deadline, the connect timeout plus the command
// timeout, instead of its own command timeout.
TEST_CASE("cache.redis: a Redis that accepts and never answers costs a lookup its command timeout, not the connect timeout") {
  int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(silent >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(silent, 64) == 0);  // the kernel completes connections; nothing reads them
  REQUIRE(::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  std::string config = basicConfig("mode = \"echo\"\nallow_request_overrides = true",
                                   "cache = \"shared\"\n"
                                   "[instances.shared]\ntype = \"cache.redis\"\n[instances.shared.config]\n"
                                   "[instances.shared.config.redis]\nport = " + std::to_string(ntohs(addr.sin_port)) +
                                       "\ncommand_timeout_ms = 100\nconnect_timeout_ms = 3000\n");
  Sidecar a(config);
  for (int i = 0; i < 3; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = a.chat(as("acme", "question " + std::to_string(i)));
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE(r.ok());
    CHECK_FALSE(r.value().cache_hit);
    CHECK(took < 1500ms);  // about 100 ms of lookup; it was the 3 s connect timeout and more
  }
  ::close(silent);
}
