#!lua flags=no-writes
--[[
  The offline queue of H without its expired items, oldest first. Read-only (flagged so), so it
  also runs when Redis is out of memory.

  KEYS[1] offline:{H}

  Returns { id1, payload1, id2, payload2, ... }
]]
-- @include parseQueueItem

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local live = {}
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local id, expiresAt, payloadStart = parseQueueItem(item)
  if expiresAt == nil or expiresAt > now then
    live[#live + 1] = id
    live[#live + 1] = string.sub(item, payloadStart)
  end
end
return live
