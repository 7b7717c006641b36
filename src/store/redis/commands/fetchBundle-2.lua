--[[
  Returns the bundle with one one-time prekey consumed (X3DH), or nil when no bundle is stored.

  KEYS[1] bundle:{H}  KEYS[2] prekeys:{H}

  Returns { bundle, prekey or nil }
]]
local bundle = redis.call('GET', KEYS[1])
if not bundle then
  return nil
end
return { bundle, redis.call('LPOP', KEYS[2]) }
