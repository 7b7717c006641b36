--[[
  Claims a nickname for an identity, or refreshes it when the identity already holds it.

  KEYS[1] nick:<lowercase nickname> (hash: identity, nickname)
  ARGV[1] identity hash  ARGV[2] nickname as registered  ARGV[3] TTL in ms

  Returns 1 when claimed, 0 when another identity holds it.
]]
local holder = redis.call('HGET', KEYS[1], 'identity')
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'identity', ARGV[1], 'nickname', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
