-- The token bucket with jail on KEYS[1], the Lua twin of src/store/token-bucket.ts (same rules:
-- change both together), with
-- ARGV[1] capacity  ARGV[2] windowMs  ARGV[3] cost  ARGV[4] jail strikes (0 = never jailed)
-- ARGV[5] jailMs  ARGV[6] key TTL in ms. Uses the Redis clock so every relay instance agrees.
-- Returns { allowed 0|1, retryAfterMs, jailed 0|1, jailedUntil }.
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local maxStrikes = tonumber(ARGV[4])
local jailMs = tonumber(ARGV[5])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local state = redis.call('HMGET', key, 'tokens', 'updatedAt', 'strikes', 'strikesSince', 'jailedUntil')
local tokens = tonumber(state[1]) or capacity
local updatedAt = tonumber(state[2]) or now
local strikes = tonumber(state[3]) or 0
local strikesSince = tonumber(state[4]) or now
local jailedUntil = tonumber(state[5]) or 0

local function save()
  redis.call('HSET', key, 'tokens', tostring(tokens), 'updatedAt', updatedAt, 'strikes', strikes,
    'strikesSince', strikesSince, 'jailedUntil', jailedUntil)
  redis.call('PEXPIRE', key, ARGV[6])
end

if jailedUntil > now then
  redis.call('PEXPIRE', key, ARGV[6])
  return { 0, jailedUntil - now, 1, jailedUntil }
end

local rate = capacity / windowMs
tokens = math.min(capacity, tokens + (now - updatedAt) * rate)
updatedAt = now
if tokens >= cost then
  tokens = tokens - cost
  save()
  return { 1, 0, 0, 0 }
end

local retryAfterMs = math.ceil((math.min(cost, capacity) - tokens) / rate)
if maxStrikes > 0 then
  if strikes == 0 or now - strikesSince > 2 * windowMs then
    strikes = 0
    strikesSince = now
  end
  strikes = strikes + 1
  if strikes >= maxStrikes then
    jailedUntil = now + jailMs
    strikes = 0
    save()
    return { 0, jailMs, 1, jailedUntil }
  end
end
save()
return { 0, retryAfterMs, 0, 0 }
