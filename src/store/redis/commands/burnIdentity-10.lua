--[[
  Deletes every key of one identity (all share the hash tag {H}) and returns the nickname key its
  nickof pointed to, so the caller can release that nickname (another cluster slot).

  KEYS[1] nickof:{H}  KEYS[2..] bundle, prekeys, offline, offsize, session, seen, rl:{H}:<name>...
]]
local nickname = redis.call('GET', KEYS[1])
redis.call('DEL', unpack(KEYS))
return nickname
