-- Applies writes and deletes all or nothing: every condition is checked
-- first, in order, against the state the earlier operations leave behind;
-- only when all hold is anything written. One script serves conditional
-- writes, runs of unconditional ones, and transactions, so there is one
-- place where etags are checked.
--
-- KEYS[i] is the key of operation i. ARGV holds 6 values per operation:
--   kind     "s" set, "d" delete
--   cond     "" always, "f" only when absent (first-write), "e" only when
--            the current version equals etag, "x" never (a malformed etag)
--   etag     the expected version (cond "e")
--   version  the new version of a set (random, chosen by the client)
--   value    the bytes of a set: the whole record in the compact layout
--   meta     a set's content type, "" for none (Dapr's layout)
-- followed by one ttl per operation (milliseconds, "0" for none), then the
-- layout to write: "c" compact, "d" Dapr's.
-- Returns 0 when everything was applied, else the 1-based index of the
-- first operation whose condition failed (nothing is applied then).
--
-- Either layout is read (see docs.md): Dapr's is a hash with data, version
-- (so Dapr reads it), and when present ctype (content type) and exp
-- (expiry, Unix milliseconds, also set as the key's own expiry); the
-- compact one is a string starting with a header (src/record.rs) whose
-- first 35 bytes hold the version and the content type's length.
local n = #KEYS
local compact = ARGV[n * 7 + 1] == 'c'
local MAGIC = '\245ss\1'

-- The current version of a key, false when absent, nil for a value of
-- another type.
local function version(key)
  local t = redis.call('TYPE', key)['ok']
  if t == 'none' then return false end
  if t == 'hash' then return redis.call('HGET', key, 'version') or false end
  if t == 'string' then
    -- The same checks as record::decode: magic, 1 to 20 digits of etag,
    -- and the whole header (expiry, content type) within the string.
    local h = redis.call('GETRANGE', key, 0, 34)
    if #h >= 15 and string.sub(h, 1, 4) == MAGIC then
      local len = string.byte(h, 5)
      local etag = string.sub(h, 6, 5 + len)
      if len >= 1 and len <= 20 and #h >= 15 + len and string.match(etag, '^%d+$') then
        local ctype_len = string.byte(h, 14 + len) * 256 + string.byte(h, 15 + len)
        if redis.call('STRLEN', key) >= 15 + len + ctype_len then
          return etag
        end
      end
    end
  end
  return nil
end

local seen = {}
for i = 1, n do
  local key, b = KEYS[i], (i - 1) * 6
  local cond = ARGV[b + 2]
  if cond == 'x' then return i end
  if cond == 'e' or cond == 'f' then
    local cur = seen[key]
    if cur == nil then
      cur = version(key)
      if cur == nil then
        return redis.error_reply('WRONGTYPE the key ' .. key .. ' holds another type of value')
      end
    end
    if (cond == 'e' and cur ~= ARGV[b + 3]) or (cond == 'f' and cur) then
      return i
    end
  end
  if ARGV[b + 1] == 's' then seen[key] = ARGV[b + 4] else seen[key] = false end
end

local now
for i = 1, n do
  local key, b = KEYS[i], (i - 1) * 6
  local ttl = tonumber(ARGV[n * 6 + i])
  if ARGV[b + 1] ~= 's' then
    redis.call('DEL', key)
  elseif compact then
    if ttl > 0 then
      redis.call('SET', key, ARGV[b + 5], 'PX', ttl)
    else
      redis.call('SET', key, ARGV[b + 5])
    end
  else
    redis.call('DEL', key)
    local fields = { 'data', ARGV[b + 5], 'version', ARGV[b + 4] }
    if ARGV[b + 6] ~= '' then
      fields[#fields + 1] = 'ctype'
      fields[#fields + 1] = ARGV[b + 6]
    end
    local exp_text
    if ttl > 0 then
      if not now then
        local t = redis.call('TIME')
        now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      end
      -- Text, never a Lua number: Redis could print a large one as 1.7e+12.
      exp_text = string.format('%.0f', now + ttl)
      fields[#fields + 1] = 'exp'
      fields[#fields + 1] = exp_text
    end
    redis.call('HSET', key, unpack(fields))
    if exp_text then redis.call('PEXPIREAT', key, exp_text) end
  end
end
return 0
