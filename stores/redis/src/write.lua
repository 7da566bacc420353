-- Applies writes and deletes all or nothing: every condition is checked
-- first, in order, against the state the earlier operations leave behind;
-- only when all hold is anything written. One script serves set, delete,
-- each item of a bulk call, and transactions, so there is one place where
-- etags are checked.
--
-- KEYS[i] is the key of operation i. ARGV holds 6 values per operation:
--   kind     "s" set, "d" delete
--   cond     "" always, "f" only when absent (first-write), "e" only when
--            the current version equals etag, "x" never (a malformed etag)
--   etag     the expected version (cond "e")
--   version  the new version of a set (random, chosen by the client)
--   value    the bytes of a set
--   meta     a set's content type, "" for none
-- followed by one ttl per operation at the end: milliseconds, "0" for none.
-- Returns 0 when everything was applied, else the 1-based index of the
-- first operation whose condition failed (nothing is applied then).
--
-- A key is a hash: data, version (Dapr's layout, so Dapr reads it), and
-- when present ctype (content type) and exp (expiry, Unix milliseconds,
-- also set as the key's own expiry so Redis drops it).
local n = #KEYS
local seen = {}
for i = 1, n do
  local key, b = KEYS[i], (i - 1) * 6
  local cur = seen[key]
  if cur == nil then
    cur = redis.call('HGET', key, 'version')
  end
  local cond = ARGV[b + 2]
  if (cond == 'e' and cur ~= ARGV[b + 3]) or (cond == 'f' and cur) or cond == 'x' then
    return i
  end
  if ARGV[b + 1] == 's' then seen[key] = ARGV[b + 4] else seen[key] = false end
end
local now
for i = 1, n do
  local key, b = KEYS[i], (i - 1) * 6
  redis.call('DEL', key)
  if ARGV[b + 1] == 's' then
    local ttl = tonumber(ARGV[n * 6 + i])
    local fields = { 'data', ARGV[b + 5], 'version', ARGV[b + 4] }
    if ARGV[b + 6] ~= '' then
      fields[#fields + 1] = 'ctype'
      fields[#fields + 1] = ARGV[b + 6]
    end
    local exp, exp_text
    if ttl > 0 then
      if not now then
        local t = redis.call('TIME')
        now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      end
      exp = now + ttl
      -- Text, never a Lua number: Redis could print a large one as 1.7e+12.
      exp_text = string.format('%.0f', exp)
      fields[#fields + 1] = 'exp'
      fields[#fields + 1] = exp_text
    end
    redis.call('HSET', key, unpack(fields))
    if exp_text then redis.call('PEXPIREAT', key, exp_text) end
  end
end
return 0
