--[[
  1 when the token hash is stored and not expired, else 0 (one ZSCORE: no scan).

  KEYS[1] session:{H} (sorted set: token hash scored by its expiry, µs of Redis time)
  ARGV[1] token hash
]]
local expiresAt = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if not expiresAt then
  return 0
end
local time = redis.call('TIME')
if expiresAt > tonumber(time[1]) * 1000000 + tonumber(time[2]) then
  return 1
end
return 0
