-- Reads one key in whichever layout it holds, in one step: the last resort
-- of a read that met the other layout twice because writers in both
-- layouts keep moving the key (see read_name in src/core.rs).
-- Returns {"c", value of GET} for a string, {"d", HMGET data version ctype
-- exp} for a hash, {"n"} when the key is absent.
local key = KEYS[1]
local t = redis.call('TYPE', key)['ok']
if t == 'string' then return { 'c', redis.call('GET', key) } end
if t == 'hash' then
  return { 'd', redis.call('HMGET', key, 'data', 'version', 'ctype', 'exp') }
end
if t == 'none' then return { 'n' } end
return redis.error_reply('WRONGTYPE the key holds another type of value')
