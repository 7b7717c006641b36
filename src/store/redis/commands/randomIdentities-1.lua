--[[
  Up to ARGV[1] distinct identities with a live bundle, uniformly at random: expired members are
  pruned first.

  KEYS[1] pool  ARGV[1] count (> 0)
]]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANDMEMBER', KEYS[1], ARGV[1])
