--[[
  Stores a bundle: replaces the identity part and the whole one-time prekey set, records the
  first-seen time if absent, and gives all three keys the bundle's TTL.
  (The random pool lives in another cluster slot: the caller adds the identity there next.)

  KEYS[1] bundle:{H}  KEYS[2] prekeys:{H}  KEYS[3] seen:{H}
  ARGV[1] TTL in ms  ARGV[2] bundle  ARGV[3..] prekeys

  Returns { number of prekeys stored, Redis time in ms }
]]
local ttl = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('DEL', KEYS[2])
local count = #ARGV - 2
-- unpack() is limited by the Lua stack: push in chunks.
for first = 3, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
if count > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
redis.call('SET', KEYS[3], now, 'NX')
redis.call('PEXPIRE', KEYS[3], ttl)
return { count, now }
