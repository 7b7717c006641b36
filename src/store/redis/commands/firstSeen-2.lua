--[[
  First-seen time (ms) of an identity with a stored bundle, or nil.

  KEYS[1] bundle:{H}  KEYS[2] seen:{H}
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return nil
end
return redis.call('GET', KEYS[2])
