--[[
  Adds a session token hash, keeping at most ARGV[3] live tokens: expired tokens go first, then
  the oldest ones, so the new token always stays. The key lives as long as its longest-lived token.
  Scores are microseconds (exact in a double until the year 2255), so two tokens issued in the same
  millisecond still expire, and are revoked, in issue order.

  KEYS[1] session:{H} (sorted set: token hash scored by its expiry, µs of Redis time)
  ARGV[1] token hash  ARGV[2] TTL in ms  ARGV[3] max live tokens (>= 1)
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local key = KEYS[1]

redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
redis.call('ZREM', key, ARGV[1])
local excess = redis.call('ZCARD', key) - (tonumber(ARGV[3]) - 1)
if excess > 0 then
  redis.call('ZREMRANGEBYRANK', key, 0, excess - 1)
end
redis.call('ZADD', key, now + tonumber(ARGV[2]) * 1000, ARGV[1])
local longest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', key, math.ceil((tonumber(longest[2]) - now) / 1000))
return 1
