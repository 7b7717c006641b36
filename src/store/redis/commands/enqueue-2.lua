--[[
  Appends an item to the offline queue unless that would exceed the count or byte cap (nothing
  queued is ever dropped to make room). Items are stored as "<id>\n<payload>".

  KEYS[1] offline:{H} (list)  KEYS[2] offsize:{H} (total payload bytes)
  ARGV[1] maxCount  ARGV[2] maxBytes  ARGV[3] TTL in ms  ARGV[4] id  ARGV[5] payload

  Returns 1 when queued, 0 when full.
]]
local size = #ARGV[5]
local count = redis.call('LLEN', KEYS[1])
local bytes = tonumber(redis.call('GET', KEYS[2])) or 0
if count + 1 > tonumber(ARGV[1]) or bytes + size > tonumber(ARGV[2]) then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[4] .. '\n' .. ARGV[5])
redis.call('SET', KEYS[2], bytes + size, 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
