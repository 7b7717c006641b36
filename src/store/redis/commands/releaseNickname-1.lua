--[[
  Deletes a nickname if the identity still holds it (idempotent).

  KEYS[1] nick:<lowercase nickname>  ARGV[1] identity hash
]]
if redis.call('HGET', KEYS[1], 'identity') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
