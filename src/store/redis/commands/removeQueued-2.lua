--[[
  Removes the queued items with the given ids, and every expired item, keeping the others in
  order; both keys then expire with the newest item left.

  No shebang on purpose: removing frees memory, so this must run when Redis is out of memory.
  Redis refuses a shebang-less script's first write if it may grow memory; here that is a DEL,
  which never does, and it lets the later writes through.

  KEYS[1] offline:{H}  KEYS[2] offsize:{H}  ARGV ids

  Returns the number of live items removed by id.
]]
-- @include parseQueueItem

local remove = {}
for i = 1, #ARGV do
  remove[ARGV[i]] = true
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local kept, bytes, removed, expired = {}, 0, 0, 0
-- Items of older relays have no expiry of their own: they keep the key's.
local newest = -1
for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local id, expiresAt, payloadStart = parseQueueItem(item)
  if expiresAt ~= nil and expiresAt <= now then
    expired = expired + 1
  elseif remove[id] then
    removed = removed + 1
  else
    kept[#kept + 1] = item
    bytes = bytes + #item - payloadStart + 1
    newest = math.max(newest, expiresAt or redis.call('PEXPIRETIME', KEYS[1]))
  end
end
if removed + expired == 0 then
  return 0
end

redis.call('DEL', KEYS[1], KEYS[2])
if #kept > 0 then
  for first = 1, #kept, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(kept, first, math.min(first + 999, #kept)))
  end
  redis.call('PEXPIREAT', KEYS[1], newest)
  redis.call('SET', KEYS[2], bytes, 'PXAT', newest)
end
return removed
