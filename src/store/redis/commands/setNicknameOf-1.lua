--[[
  Points an identity at its (new) nickname and returns the previous one, if any.

  KEYS[1] nickof:{H}  ARGV[1] lowercase nickname  ARGV[2] TTL in ms
]]
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return previous
