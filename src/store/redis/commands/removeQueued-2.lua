--[[
  Removes the queued items with the given ids, keeping the others in order and the queue's TTL.

  KEYS[1] offline:{H}  KEYS[2] offsize:{H}  ARGV ids

  Returns the number of items removed.
]]
local remove = {}
for i = 1, #ARGV do
  remove[ARGV[i]] = true
end

local kept, bytes, removed = {}, 0, 0
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local newline = string.find(item, '\n', 1, true)
  if remove[string.sub(item, 1, newline - 1)] then
    removed = removed + 1
  else
    kept[#kept + 1] = item
    bytes = bytes + #item - newline
  end
end
if removed == 0 then
  return 0
end

local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
if #kept > 0 then
  for first = 1, #kept, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(kept, first, math.min(first + 999, #kept)))
  end
  redis.call('SET', KEYS[2], bytes)
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
return removed
