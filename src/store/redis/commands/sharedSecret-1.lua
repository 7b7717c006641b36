--[[
  Returns the secret shared by every instance, setting it to ARGV[1] if none is set yet, and
  refreshes its TTL (so it lives as long as some instance uses it).

  KEYS[1] secret  ARGV[1] candidate  ARGV[2] TTL in ms
]]
local secret = redis.call('GET', KEYS[1])
if not secret then
  secret = ARGV[1]
  redis.call('SET', KEYS[1], secret, 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return secret
