"""The Lua scripts run inside Redis: the lease of a global budget and the heartbeat.

Both read the server's clock with ``TIME`` so that no two processes' clocks are ever compared.
They use only commands Redis 6+ and Valkey 7+ share (``TIME``, ``TYPE``, ``DEL``,
``HMGET``, ``HSET``, ``PEXPIRE``, ``ZADD``, ``ZREMRANGEBYSCORE``, ``ZCARD``), and run as
``EVALSHA`` with ``EVAL`` as the fallback after a restart empties the script cache.
"""

from __future__ import annotations

__all__ = ["HEARTBEAT", "LEASE"]

LEASE = """
-- A token bucket of one deployment's budget (requests or tokens) in the server's time.
-- KEYS[1] the bucket hash {level, ts}
-- ARGV[1] refill per ms, ARGV[2] capacity, ARGV[3] units wanted, ARGV[4] units given back,
-- ARGV[5] the key's ttl in ms, ARGV[6] 1 to reserve what is missing from future refills,
-- ARGV[7] units spent elsewhere to charge first (what a process admitted on its local
-- limits while Redis was away), ARGV[8] 1 when a missing bucket was lost rather than new
-- (this process leased from it lately): it then starts empty, not full.
-- Returns {granted now, reserved, ms until the reserved units are paid for (or, when
-- nothing was reserved, until the bucket holds one unit; 0 when it does)}.
-- Reservations queue in the order they reach the server (the level goes below zero, at
-- most one capacity deep): processes waiting on an empty budget are served in turn.
-- Whatever is under the key is validated: a foreign type is replaced, a level outside
-- [-capacity, capacity] (or not a number) is clamped, a stamp in the future is "now", so a
-- hostile value can neither lift the limit nor make a wait unbounded.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = tonumber(ARGV[4])
local debt = tonumber(ARGV[7] or '0') or 0
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' and kind ~= 'none' then
  redis.call('DEL', KEYS[1])
  kind = 'none'
end
local v = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = tonumber(v[1])
local ts = tonumber(v[2])
if kind == 'none' then
  if ARGV[8] == '1' then level = 0 else level = cap end
  ts = now
elseif level == nil or ts == nil or level ~= level or ts ~= ts then
  level = 0  -- not numbers: start empty (refilling), never full
  ts = now
end
if level > cap then level = cap end
if level < -cap then level = -cap end
if ts > now or ts < 0 then ts = now end
if now > ts then
  level = level + (now - ts) * rate
end
level = math.min(cap, level + back)
if debt > 0 then level = math.max(-cap, level - debt) end
local grant = math.floor(math.min(want, level))
if grant < 0 then grant = 0 end
level = level - grant
local reserved = 0
local wait = 0
if grant < want and ARGV[6] == '1' and level - (want - grant) >= -cap then
  reserved = want - grant
  level = level - reserved
  wait = math.ceil(-level / rate)
elseif level < 1 then
  wait = math.ceil((1 - level) / rate)
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return {grant, reserved, wait}
"""

HEARTBEAT = """
-- The live processes: a sorted set of process ids scored by their last beat (server ms).
-- KEYS[1] the set, ARGV[1] this process's id, ARGV[2] ms after which a process is gone,
-- ARGV[3] 1 to beat, 0 to leave. Returns the number of live processes.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stale = tonumber(ARGV[2])
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'zset' and kind ~= 'none' then
  redis.call('DEL', KEYS[1])  -- a foreign value: replaced, never an error every beat
end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - stale)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + stale), '+inf')  -- beats from the future
redis.call('PEXPIRE', KEYS[1], stale * 2)
return redis.call('ZCARD', KEYS[1])
"""
