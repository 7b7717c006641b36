--[[
  Takes tokens from a token bucket with jail (same rules as src/store/token-bucket.ts).
  Uses the Redis clock so every relay instance agrees.

  KEYS[1] bucket hash: tokens, updatedAt, strikes, strikesSince, jailedUntil
  ARGV[1] capacity  ARGV[2] windowMs  ARGV[3] cost
  ARGV[4] jail strikes (0 = never jailed)  ARGV[5] jailMs  ARGV[6] key TTL in ms

  Returns { allowed 0|1, retryAfterMs, jailed 0|1, jailedUntil }
]]
-- @include takeFromBucket
