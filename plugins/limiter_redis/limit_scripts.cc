#include "limit_scripts.h"

namespace outrigger::limiter {

// How long until a rate key's buckets are full again (at least the minute they take from empty):
// the key may be forgotten then, and not before. Both scripts begin with it.
#define OUTRIGGER_FULL_AGAIN_LUA \
  "local function full_again_ms(rpm, tpm, rt, tt)\n" \
  "  local ms = 0\n" \
  "  if rpm > 0 then ms = math.max(ms, (rpm - rt) * 60000 / rpm) end\n" \
  "  if tpm > 0 then ms = math.max(ms, (tpm - tt) * 60000 / tpm) end\n" \
  "  return math.max(61000, math.ceil(ms) + 1000)\n" \
  "end\n"

// Buckets refill continuously (a minute's worth per minute) and start full; a prompt larger than
// the whole bucket waits for a full one and leaves it in debt, as limiter.memory does.
const char kAdmitScript[] = OUTRIGGER_FULL_AGAIN_LUA R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm, need = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local maxc, budget, reserve = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local id, lease, budget_ttl = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])

-- Released already: its answer was lost and the sidecar gave it up (KEYS[5], the tombstone).
if KEYS[5] and redis.call('EXISTS', KEYS[5]) == 1 then
  return {0, 'released', 0, ''}
end

local rt, tt = 0, 0
if rpm > 0 or tpm > 0 then
  local s = redis.call('HMGET', KEYS[1], 'rt', 'tt', 'ts')
  local dt = math.max(0, now - (tonumber(s[3]) or now))
  rt = math.min(rpm, (tonumber(s[1]) or rpm) + dt * rpm / 60000)
  tt = math.min(tpm, (tonumber(s[2]) or tpm) + dt * tpm / 60000)
  if rpm > 0 and rt < 1 then
    return {0, 'rpm', math.ceil((1 - rt) * 60000 / rpm), ''}
  end
  local want = math.min(need, tpm)
  if tpm > 0 and tt < want then
    return {0, 'tpm', math.ceil((want - tt) * 60000 / tpm), ''}
  end
end

if maxc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= maxc then
    return {0, 'concurrency', 0, ''}
  end
end

if budget > 0 then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
  for _, gone in ipairs(expired) do
    local amount = tonumber(redis.call('HGET', KEYS[3], 'r:' .. gone)) or 0
    redis.call('HINCRBYFLOAT', KEYS[3], 'reserved', -amount)
    redis.call('HDEL', KEYS[3], 'r:' .. gone)
  end
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  end
  local spent = tonumber(redis.call('HGET', KEYS[3], 'spent')) or 0
  local reserved = tonumber(redis.call('HGET', KEYS[3], 'reserved')) or 0
  if spent + reserved + reserve > budget then
    return {0, 'budget', 0, string.format('%.6f', spent + reserved)}
  end
end

if rpm > 0 or tpm > 0 then
  if rpm > 0 then rt = rt - 1 end
  if tpm > 0 then tt = tt - need end
  redis.call('HSET', KEYS[1], 'rt', rt, 'tt', tt, 'ts', now)
  -- Forgotten only once it would be full again, as forgetting it then changes nothing: a bucket in
  -- debt (a request that needed more than tpm) keeps its debt until it has refilled.
  redis.call('PEXPIRE', KEYS[1], full_again_ms(rpm, tpm, rt, tt))
end
if maxc > 0 then
  redis.call('ZADD', KEYS[2], now + lease, id)
  redis.call('PEXPIRE', KEYS[2], lease + 1000)
end
if budget > 0 and reserve > 0 then
  redis.call('HINCRBYFLOAT', KEYS[3], 'reserved', reserve)
  redis.call('HSET', KEYS[3], 'r:' .. id, reserve)
  redis.call('ZADD', KEYS[4], now + lease, id)
end
if budget > 0 then
  redis.call('EXPIRE', KEYS[3], budget_ttl)
  redis.call('EXPIRE', KEYS[4], budget_ttl)
end
return {1}
)lua";

// A reservation that already ran out of lease has given its amount back; only what the request
// spent is added then. Settling an id twice gives nothing back twice.
const char kSettleScript[] = OUTRIGGER_FULL_AGAIN_LUA R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local give_back, delta, id = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local spent, budget_ttl = tonumber(ARGV[6]), tonumber(ARGV[7])

-- A release of an admission whose answer was lost: should the admission run after this, it
-- finds the tombstone and reserves nothing.
if ARGV[8] == '1' and KEYS[5] then
  redis.call('SET', KEYS[5], '1', 'PX', tonumber(ARGV[9]))
end

if (rpm > 0 and give_back > 0) or (tpm > 0 and delta ~= 0) then
  local s = redis.call('HMGET', KEYS[1], 'rt', 'tt', 'ts')
  local dt = math.max(0, now - (tonumber(s[3]) or now))
  local rt = math.min(rpm, (tonumber(s[1]) or rpm) + dt * rpm / 60000)
  local tt = math.min(tpm, (tonumber(s[2]) or tpm) + dt * tpm / 60000)
  if rpm > 0 then rt = math.min(rpm, rt + give_back) end
  if tpm > 0 then tt = math.min(tpm, tt - delta) end
  redis.call('HSET', KEYS[1], 'rt', rt, 'tt', tt, 'ts', now)
  redis.call('PEXPIRE', KEYS[1], full_again_ms(rpm, tpm, rt, tt))
end
redis.call('ZREM', KEYS[2], id)
local amount = tonumber(redis.call('HGET', KEYS[3], 'r:' .. id))
if amount then
  redis.call('HINCRBYFLOAT', KEYS[3], 'reserved', -amount)
  redis.call('HDEL', KEYS[3], 'r:' .. id)
  redis.call('ZREM', KEYS[4], id)
end
if spent > 0 then
  redis.call('HINCRBYFLOAT', KEYS[3], 'spent', spent)
  redis.call('EXPIRE', KEYS[3], budget_ttl)
end
return 1
)lua";

}  // namespace outrigger::limiter
