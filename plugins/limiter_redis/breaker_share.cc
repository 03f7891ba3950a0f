#include "breaker_share.h"

#include <vector>

namespace outrigger::limiter {

namespace {

// Keeps the later "open until" of a target. ARGV: target, open_ms.
const redis::RedisScript kPublish(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = now + tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1])) or 0
if open_until > current then redis.call('HSET', KEYS[1], ARGV[1], open_until) end
redis.call('EXPIRE', KEYS[1], 86400)
return 1
)lua");

// The targets open now and the milliseconds each has left; forgets the ones that closed.
const redis::RedisScript kRead(R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local open = {}
for i = 1, #all, 2 do
  local left = tonumber(all[i + 1]) - now
  if left > 0 then
    table.insert(open, all[i])
    table.insert(open, left)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return open
)lua");

}  // namespace

BreakerShare::BreakerShare(plugin::Host host, std::shared_ptr<redis::RedisClient> redis, uint32_t poll_ms,
                           std::shared_ptr<BreakerShareCounters> counters)
    : host_(host), redis_(std::move(redis)), poll_ms_(poll_ms), counters_(std::move(counters)) {
  key_ = redis_->key("breakers");
}

BreakerShare::~BreakerShare() { *alive_ = false; }

void BreakerShare::start() {
  std::weak_ptr<bool> alive = alive_;
  host_.instancePost([this, alive](outrigger_status st) {
    auto a = alive.lock();
    if (st != OUTRIGGER_OK || !a || !*a) return;
    host_.instanceTimer(poll_ms_, poll_ms_, [this, alive](outrigger_status s) {
      auto a = alive.lock();
      if (s == OUTRIGGER_OK && a && *a) poll();
    }, &timer_id_);
  });
}

void BreakerShare::poll() {
  std::vector<std::pair<std::string, uint32_t>> opened;
  auto open_here = std::make_shared<std::map<std::string, uint32_t, std::less<>>>();  // target -> ms left
  host_.breakers([&](const outrigger_breaker_view& b) {
    if (b.state != OUTRIGGER_BREAKER_OPEN) return;
    std::string target(plugin::view(b.target));
    (*open_here)[target] = b.open_remaining_ms;
    if (!b.opened_here) return;
    auto [it, fresh] = published_.try_emplace(target, b.times_opened);
    if (!fresh && it->second == b.times_opened) return;  // this opening is published already
    it->second = b.times_opened;
    opened.emplace_back(std::move(target), b.open_remaining_ms);
  });
  std::weak_ptr<bool> alive = alive_;
  for (const auto& [target, ms] : opened) {
    uint64_t opening = published_[target];
    redis_->eval(kPublish, {key_}, {target, std::to_string(ms)},
                 [this, alive, target = target, opening](const redis::RedisResult& r) {
      auto a = alive.lock();
      if (!a || !*a) return;
      if (r.ok()) {
        counters_->published.fetch_add(1);
        return;
      }
      // Not published (breakers open when Redis or the network is unwell): the next poll tries
      // again while the breaker is still open, unless it has opened once more meanwhile.
      auto it = published_.find(target);
      if (it != published_.end() && it->second == opening) published_.erase(it);
    });
  }
  redis_->eval(kRead, {key_}, {}, [this, alive, open_here](const redis::RedisResult& r) {
    auto a = alive.lock();
    if (!a || !*a || !r.ok() || r.reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i + 1 < r.reply->elements; i += 2) {
      const redisReply* target = r.reply->element[i];
      const redisReply* left = r.reply->element[i + 1];
      if (target->type != REDIS_REPLY_STRING || left->type != REDIS_REPLY_INTEGER || left->integer <= 0) continue;
      std::string_view name(target->str, target->len);
      // Open here already for as long (this process's own trip among them): nothing to do.
      auto here = open_here->find(name);
      if (here != open_here->end() && uint64_t(here->second) + poll_ms_ >= uint64_t(left->integer)) continue;
      if (host_.breakerOpen(name, uint32_t(std::min<long long>(left->integer, UINT32_MAX))) == OUTRIGGER_OK) {
        counters_->applied.fetch_add(1);
      }
    }
  });
}

}  // namespace outrigger::limiter
