#!lua
--[[
  Appends an item to the offline queue of H, after dropping the expired items at its head (items
  are appended in time order). Nothing is stored when H has no key bundle and one is required,
  when the queue would exceed its count or byte cap (nothing queued is ever dropped to make room),
  or when the caller says offline storage is full. Both keys expire with the newest item.

  The shebang (no flags) makes Redis refuse the whole script with an OOM error when it is out of
  memory (maxmemory with noeviction), before any write.

  KEYS[1] offline:{H} (list)  KEYS[2] offsize:{H} (total payload bytes)  KEYS[3] bundle:{H}
  ARGV[1] maxCount  ARGV[2] maxBytes  ARGV[3] TTL in ms  ARGV[4] '1': a bundle is required
  ARGV[5] '1': offline storage is full  ARGV[6] id  ARGV[7] payload

  Returns 'queued', 'no_recipient', 'mailbox_full' or 'storage_full'.
]]
-- @include parseQueueItem

if ARGV[4] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then
  return 'no_recipient'
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local count = redis.call('LLEN', KEYS[1])
local bytes = tonumber(redis.call('GET', KEYS[2])) or 0
local expired = 0
while expired < count do
  local item = redis.call('LINDEX', KEYS[1], expired)
  local _, expiresAt, payloadStart = parseQueueItem(item)
  if expiresAt == nil or expiresAt > now then
    break
  end
  expired = expired + 1
  bytes = bytes - (#item - payloadStart + 1)
end
if expired > 0 then
  count = count - expired
  if count == 0 then
    redis.call('DEL', KEYS[1], KEYS[2])
  else
    redis.call('LTRIM', KEYS[1], expired, -1)
    redis.call('SET', KEYS[2], bytes, 'KEEPTTL')
  end
end

local size = #ARGV[7]
if count + 1 > tonumber(ARGV[1]) or bytes + size > tonumber(ARGV[2]) then
  return 'mailbox_full'
end
if ARGV[5] == '1' then
  return 'storage_full'
end

local expiresAt = now + tonumber(ARGV[3])
redis.call('RPUSH', KEYS[1], ARGV[6] .. '\n' .. expiresAt .. '\n' .. ARGV[7])
-- The newest item's expiry, or a later one already set (a shorter TTL configured since).
expiresAt = math.max(expiresAt, redis.call('PEXPIRETIME', KEYS[1]))
redis.call('PEXPIREAT', KEYS[1], expiresAt)
redis.call('SET', KEYS[2], bytes + size, 'PXAT', expiresAt)
return 'queued'
