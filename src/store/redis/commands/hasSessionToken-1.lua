--[[
  1 when the token hash is stored and not expired, else 0.

  KEYS[1] session:{H}  ARGV[1] token hash
]]
local expiresAt = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if not expiresAt then
  return 0
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if expiresAt > now then
  return 1
end
return 0
