"""The Lua run inside Redis for fleet budgets: the lease of one budget scope's window.

Server-side and atomic, so two processes never lease the same remainder. Money is integer
nano-dollars, tokens integers; ``-1`` means "this budget has no such limit". Only commands
Redis 6+ and Valkey 7+ share (``TIME``, ``HMGET``, ``HSET``, ``PEXPIREAT``, ``PERSIST``,
``ZADD``, ``ZREMRANGEBYSCORE``, ``ZCARD``).
"""

from __future__ import annotations

__all__ = ["BUDGET_LEASE", "BUDGET_LIVE"]

BUDGET_LEASE = """
-- KEYS[1] the scope's window hash {taken_n, charged_n, taken_t, charged_t}
-- ARGV: 1 limit_n, 2 limit_t, 3 want_n, 4 want_t, 5 back_n, 6 back_t, 7 charged_n,
--       8 charged_t, 9 forced_n, 10 forced_t, 11 live processes, 12 lease fraction,
--       13 expire at (epoch ms; 0: never)
-- Gives back ``back`` (unused lease), adds the process's settled charges, adds ``forced``
-- (what it spent from a local share while Redis was away), then grants a lease:
-- nothing unless both wants fit in what is not leased yet; else at least the want and at
-- most fraction x the remainder / live (so the fleet's leases shrink near the cap).
-- Returns {granted_n, granted_t, taken_n, taken_t, charged_n, charged_t}.
local v = redis.call('HMGET', KEYS[1], 'taken_n', 'charged_n', 'taken_t', 'charged_t')
local taken_n = tonumber(v[1]) or 0
local charged_n = tonumber(v[2]) or 0
local taken_t = tonumber(v[3]) or 0
local charged_t = tonumber(v[4]) or 0
local limit_n = tonumber(ARGV[1])
local limit_t = tonumber(ARGV[2])
local want_n = tonumber(ARGV[3])
local want_t = tonumber(ARGV[4])
taken_n = math.max(0, taken_n - tonumber(ARGV[5])) + tonumber(ARGV[9])
taken_t = math.max(0, taken_t - tonumber(ARGV[6])) + tonumber(ARGV[10])
charged_n = charged_n + tonumber(ARGV[7])
charged_t = charged_t + tonumber(ARGV[8])
local live = math.max(1, tonumber(ARGV[11]))
local fraction = tonumber(ARGV[12])
local function lease(limit, taken, want)
  if limit < 0 then return 0, true end
  local rest = limit - taken
  if want > rest then return 0, false end
  local size = math.max(want, math.floor(rest * fraction / live))
  return math.min(size, rest), true
end
local grant_n, fits_n = lease(limit_n, taken_n, want_n)
local grant_t, fits_t = lease(limit_t, taken_t, want_t)
if (want_n > 0 or want_t > 0) and fits_n and fits_t then
  taken_n = taken_n + grant_n
  taken_t = taken_t + grant_t
else
  grant_n = 0
  grant_t = 0
end
redis.call('HSET', KEYS[1], 'taken_n', tostring(taken_n), 'charged_n', tostring(charged_n),
  'taken_t', tostring(taken_t), 'charged_t', tostring(charged_t))
local at = tonumber(ARGV[13])
if at > 0 then redis.call('PEXPIREAT', KEYS[1], at) else redis.call('PERSIST', KEYS[1]) end
return {grant_n, grant_t, taken_n, taken_t, charged_n, charged_t}
"""

BUDGET_LIVE = """
-- The processes sharing the budgets, scored by their last beat on the server's clock.
-- KEYS[1] the set; ARGV[1] this process, ARGV[2] ms after which one is gone, ARGV[3] 1 beat /
-- 0 leave. Returns how many are live.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZCARD', KEYS[1])
"""
