--[[
  Adds a session token hash with its expiry, dropping expired ones. The key lives as long as
  its longest-lived token.

  KEYS[1] session:{H} (hash: token hash -> expiry ms)  ARGV[1] token hash  ARGV[2] TTL in ms
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[2])

local tokens = redis.call('HGETALL', KEYS[1])
for i = 1, #tokens, 2 do
  if tonumber(tokens[i + 1]) <= now then
    redis.call('HDEL', KEYS[1], tokens[i])
  end
end
redis.call('HSET', KEYS[1], ARGV[1], now + ttl)
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
