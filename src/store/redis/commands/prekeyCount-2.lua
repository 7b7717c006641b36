--[[
  Number of one-time prekeys left, or nil when no bundle is stored.

  KEYS[1] bundle:{H}  KEYS[2] prekeys:{H}
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return nil
end
return redis.call('LLEN', KEYS[2])
