"""The Lua scripts of the Redis adapter: what it does on Redis in one atomic step.

Redis runs a script whole, no other client's command between its own, and on its own clock
(``TIME``): settling, retrying, reclaiming, giving back, redriving and requesting are scripts,
so that no two receivers, servers or brokers see a message half moved, and so that a due time
or a deadline means the same to every instance. They are apart from
:mod:`atoll.adapters.redis.broker` because they are source of another language, read on its own; the
adapter calls them through :class:`Scripts`, which registers them on its client once it starts.

Each takes the keys and the arguments the adapter passes (``KEYS``; ``ARGV``), times in
microseconds unless named otherwise::

    requeue    stream, send stream; group, id, consumer, max entries, p, h, a
               (if the entry is still the consumer's: XACK it, XADD it to the send stream)
    delay      stream, delay set; group, id, consumer, delay, member
               (if still the consumer's: XACK it, add the member, due after the delay)
    dead       stream, dead-letter stream; group, id, consumer, p, h, d
               (if still the consumer's: XACK it, XADD it to the dead letters)
    move       delay set, send stream; max entries, how many at most
               (XADD the due members to the send stream; {moved, time to the next, or -1})
    claim      stream; group, consumer, idle (ms), cursor, count
               (XAUTOCLAIM, with each entry's delivery count and the count of trimmed ones)
    give_back  stream, send stream; group, consumer, max entries, count
               (XADD the consumer's pending atoll entries to the send stream, XACK them,
               and delete the consumer once it holds none; how many it settled)
    redrive    dead-letter stream, send stream; max entries, ids...
               (XADD each to the send stream as a first delivery, XDEL it; the count)
    request    server set, request list; staleness, wait, request
               (if a server beats: LPUSH the request with its deadline; 1, or 0 if none)
    beat       server set; server name
               (the server's heartbeat, at Redis's time; that time)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__: list[str] = []

# Settling: each script checks that the entry is still this consumer's (another may have
# claimed it past its ack wait), acknowledges it and moves it on, atomically.
_OWNED = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
"""
_REQUEUE = (
    _OWNED
    + """
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'm', ARGV[6] .. '\\n' .. ARGV[5],
           'a', ARGV[7])
return 1
"""
)
_DELAY = (
    _OWNED
    + """
local t = redis.call('TIME')
local due = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], string.format('%.0f', due), ARGV[5])
return 1
"""
)
_DEAD = (
    _OWNED
    + """
redis.call('XADD', KEYS[2], '*', 'p', ARGV[4], 'h', ARGV[5], 'd', ARGV[6])
return 1
"""
)
# A delay-set member is token|attempts|len(h)|h p: unique, and all it takes to re-send it.
_MOVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now),
                       'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local i = string.find(m, '|', 1, true)
  local j = string.find(m, '|', i + 1, true)
  local k = string.find(m, '|', j + 1, true)
  local n = tonumber(string.sub(m, j + 1, k - 1))
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*',
             'm', string.sub(m, k + 1, k + n) .. '\\n' .. string.sub(m, k + 1 + n),
             'a', string.sub(m, i + 1, j - 1))
  redis.call('ZREM', KEYS[1], m)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {#due, -1} end
return {#due, math.max(0, tonumber(first[2]) - now)}
"""
_CLAIM = """
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local counts = {}
for i, e in ipairs(r[2]) do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
  counts[i] = p[1] and p[1][4] or 1
end
return {r[1], r[2], counts, #r[3]}
"""
_GIVE_BACK = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[4]), ARGV[2])
local left = 0
for _, e in ipairs(pending) do
  local entry = redis.call('XRANGE', KEYS[1], e[1], e[1])
  local m, p, h, a = nil, nil, nil, 0
  if #entry > 0 then
    local f = entry[1][2]
    for i = 1, #f, 2 do
      if f[i] == 'm' then m = f[i + 1] elseif f[i] == 'p' then p = f[i + 1]
      elseif f[i] == 'h' then h = f[i + 1] elseif f[i] == 'a' then a = tonumber(f[i + 1]) or 0 end
    end
    if not m and p and h then m = h .. '\\n' .. p end
  end
  if #entry > 0 and not m then
    left = left + 1
  else
    if m then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'm', m, 'a', a + e[4])
    end
    redis.call('XACK', KEYS[1], ARGV[1], e[1])
  end
end
if left == 0 and #pending < tonumber(ARGV[4]) then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return #pending - left
"""
_REDRIVE = """
local n = 0
for i = 2, #ARGV do
  local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #e > 0 then
    local f, p, h = e[1][2], '', '{}'
    for j = 1, #f, 2 do
      if f[j] == 'p' then p = f[j + 1] elseif f[j] == 'h' then h = f[j + 1] end
    end
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'm', h .. '\\n' .. p)
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""
_REQUEST = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - tonumber(ARGV[1])))
if redis.call('ZCARD', KEYS[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], string.format('%.0f', now + tonumber(ARGV[2])) .. '|' .. ARGV[3])
local ttl = tonumber(ARGV[2]) / 1000 + 60000
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], string.format('%.0f', ttl))
end
return 1
"""
_BEAT = """
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 60000)
return now
"""


_TOUCH = """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
"""
"""Reset the idle time of an entry this consumer still holds (JUSTID: no delivery counted).

KEYS: the stream. ARGV: the group, the entry id, the consumer. Returns 1, or 0 when another
consumer holds it now.
"""


class Scripts:
    """The Lua scripts, registered once per client (redis-py falls back to EVAL once)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.requeue = client.register_script(_REQUEUE)
        self.touch = client.register_script(_TOUCH)
        self.delay = client.register_script(_DELAY)
        self.dead = client.register_script(_DEAD)
        self.move = client.register_script(_MOVE)
        self.claim = client.register_script(_CLAIM)
        self.give_back = client.register_script(_GIVE_BACK)
        self.redrive = client.register_script(_REDRIVE)
        self.request = client.register_script(_REQUEST)
        self.beat = client.register_script(_BEAT)
