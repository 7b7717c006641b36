--[[
  Takes tokens from a recipient's bucket, as takeTokens, only if the recipient has a key bundle:
  otherwise returns 'no_recipient' and writes nothing, so relays to hashes nobody registered
  leave no key behind.

  KEYS[1] bucket hash (rl:{H}:msg_receive)  KEYS[2] bundle:{H}
  ARGV as takeTokens.

  Returns 'no_recipient', or takeTokens' { allowed 0|1, retryAfterMs, jailed 0|1, jailedUntil }
]]
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 'no_recipient'
end

-- @include takeFromBucket
