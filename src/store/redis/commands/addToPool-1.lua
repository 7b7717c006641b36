--[[
  Adds an identity to the random pool, scored by the expiry time of its bundle. The pool key
  itself lives as long as its longest-lived member.

  KEYS[1] pool  ARGV[1] identity hash  ARGV[2] expiry (ms, Redis time)  ARGV[3] TTL in ms
]]
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
