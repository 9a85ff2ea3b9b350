"""Lua sources of the ingest/mailbox protocol (one atomic round trip each).

Lease values: ``q:{job_id}`` = a drain job is queued for the conversation; ``r:{job_id}:{nonce}`` =
that job is running (`token`). A script "owns" the conversation when the lease is missing, equals
the caller's token, or is the caller's queued marker (`sb_owned`). Enqueueing a drain writes the rq
job hash prepared in Python (`jobhash.prepare_drain_job`: ARGV from `first` on are field/value
pairs), RPUSHes its id and SADDs the queue to ``rq:queues``, as `rq.Queue.enqueue` does.

Contracts (KEYS / ARGV -> result):

INGEST   K: dedupe, raw, throttle, inbox, lease, active, job, queue, queues
         A: dedupe_ttl, body, received_at, message_id, limit, window_ttl, entry_json, ref,
            job_id, pending_ms, raw_maxlen, fields...
         -> {code, enqueued}; code 0 duplicate, 1 accepted, 2 throttled, 3 throttled+notify
ACQUIRE  K: lease  A: job_id, token, lease_ms  -> 1 ours, 2 taken over (no lease), 0 not ours
RENEW    K: lease  A: token, lease_ms  -> 1 renewed, 0 lost
RENEW_MANY K: lease...  A: lease_ms, token...  -> {1 renewed | 0 lost, ...} (one per key; the
         worker's `LeaseKeeper` renews every lease it holds in batches of these)
CLAIM    K: lease, inbox, proc, attempt  A: token, max_batch, lease_ms
         -> {-1} lost | {0} nothing | {attempt, entries...} (proc kept until FINISH)
FINISH   K: lease, inbox, proc, attempt, active, job, queue, queues
         A: token, job_id, ack(0/1), ref, new_job_id, pending_ms, fields...
         -> -1 not owner, 0 released (idle), 1 re-enqueued as new_job_id (inbox not empty)
PARK     K: lease  A: token, job_id, pending_ms  -> 1 lease = q:job_id (job re-runs), 0 not owner
REQUEUE  K: intermediate, queue, lease  A: job_id, token, pending_ms  -> 1 the job id went from
         rq's intermediate queue back to the FRONT of the queue (and a lease still holding
         `token` became the job's queued marker again), 0 it was not there (started or gone)
SPLIT    K: lease, inbox, proc  A: token  -> -1 not owner, else how many held messages went back
         to the FRONT of the inbox (in order); only the oldest stays held (poison isolation)
DEAD     K: lease, inbox, proc, attempt, active, dead, job, queue, queues
         A: token, job_id, ref, reason, failed_at, new_job_id, pending_ms, fields...
         -> -1 not owner, 0 released, 1 re-enqueued (proc moved to the dead-letter list)
KICK     K: lease, inbox, proc, active, job, queue, queues  A: ref, job_id, pending_ms, fields...
         -> 0 nothing to do (idle refs leave `active`), 1 enqueued, 2 enqueued and a turn was
            orphaned mid-way (`proc` not empty: a lease takeover)
REPLAY   K: dead, lease, inbox, proc, active, job, queue, queues
         A: ref, job_id, pending_ms, n, record_1..record_n (as stored, newest first), fields...
         -> {records removed, messages put back, duplicates skipped, drain enqueued (0/1)}: each
            record still in `dead` leaves it and its entries go back to the FRONT of the inbox in
            their order (older records ahead of newer ones), skipping messages whose id is already
            in the inbox or `proc`; then KICK's rule (a drain unless a lease is live)
"""

from __future__ import annotations

_COMMON = """
local function sb_owned(cur, token, job_id)
  return cur == false or cur == token or cur == ('q:' .. job_id)
end
local function sb_enqueue(lease, job_key, queue, queues, job_id, pending_ms, first)
  redis.call('SET', lease, 'q:' .. job_id, 'PX', pending_ms)
  redis.call('HSET', job_key, unpack(ARGV, first))
  redis.call('RPUSH', queue, job_id)
  redis.call('SADD', queues, queue)
end
"""

INGEST = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return {0, 0}
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[11], '*',
           'b', ARGV[2], 't', ARGV[3], 'k', 'message', 'id', ARGV[4])
local n = redis.call('INCR', KEYS[3])
if n == 1 then redis.call('EXPIRE', KEYS[3], ARGV[6]) end
local limit = tonumber(ARGV[5])
local code, flag = 1, '-'
if n == limit + 1 then code, flag = 3, 'N' elseif n > limit then code, flag = 2, 'T' end
redis.call('RPUSH', KEYS[4], flag .. ARGV[7])
redis.call('SADD', KEYS[6], ARGV[8])
-- sb_enqueue, with the lease SET made conditional (NX): no drain queued or running -> ours
if not redis.call('SET', KEYS[5], 'q:' .. ARGV[9], 'NX', 'PX', ARGV[10]) then
  return {code, 0}
end
redis.call('HSET', KEYS[7], unpack(ARGV, 12))
redis.call('RPUSH', KEYS[8], ARGV[9])
redis.call('SADD', KEYS[9], KEYS[8])
return {code, 1}
"""

ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ('q:' .. ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  if cur == false then return 2 end
  return 1
end
return 0
"""

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RENEW_MANY = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

CLAIM = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local held = redis.call('LRANGE', KEYS[3], 0, -1)
if #held > 0 then
  local attempt = redis.call('INCR', KEYS[4])
  return {attempt, unpack(held)}
end
local items = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
if #items == 0 then return {0} end
redis.call('LTRIM', KEYS[2], #items, -1)
redis.call('RPUSH', KEYS[3], unpack(items))
redis.call('SET', KEYS[4], 1)
return {1, unpack(items)}
"""

FINISH = (
    _COMMON
    + """
if not sb_owned(redis.call('GET', KEYS[1]), ARGV[1], ARGV[2]) then return -1 end
if ARGV[3] == '1' then redis.call('DEL', KEYS[3], KEYS[4]) end
if redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[5], ARGV[4])
  return 0
end
sb_enqueue(KEYS[1], KEYS[6], KEYS[7], KEYS[8], ARGV[5], ARGV[6], 7)
return 1
"""
)

PARK = (
    _COMMON
    + """
if not sb_owned(redis.call('GET', KEYS[1]), ARGV[1], ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], 'q:' .. ARGV[2], 'PX', ARGV[3])
return 1
"""
)

REQUEUE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
if ARGV[2] ~= '' and redis.call('GET', KEYS[3]) == ARGV[2] then
  redis.call('SET', KEYS[3], 'q:' .. ARGV[1], 'PX', ARGV[3])
end
return 1
"""

SPLIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local held = redis.call('LRANGE', KEYS[3], 1, -1)
if #held == 0 then return 0 end
redis.call('LTRIM', KEYS[3], 0, 0)
for i = #held, 1, -1 do redis.call('LPUSH', KEYS[2], held[i]) end
return #held
"""

DEAD = (
    _COMMON
    + """
if not sb_owned(redis.call('GET', KEYS[1]), ARGV[1], ARGV[2]) then return -1 end
local held = redis.call('LRANGE', KEYS[3], 0, -1)
if #held > 0 then
  local record = cjson.encode({ref = ARGV[3], reason = ARGV[4], failed_at = ARGV[5],
                               attempts = redis.call('GET', KEYS[4]), entries = held})
  redis.call('LPUSH', KEYS[6], record)
end
redis.call('DEL', KEYS[3], KEYS[4])
if redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[5], ARGV[3])
  return 0
end
sb_enqueue(KEYS[1], KEYS[7], KEYS[8], KEYS[9], ARGV[6], ARGV[7], 8)
return 1
"""
)

KICK = (
    _COMMON
    + """
if redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[4], ARGV[1]) end
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
sb_enqueue(KEYS[1], KEYS[5], KEYS[6], KEYS[7], ARGV[2], ARGV[3], 4)
if redis.call('LLEN', KEYS[3]) > 0 then return 2 end
return 1
"""
)

REPLAY = (
    _COMMON
    + """
local function sb_message_id(entry)
  local ok, msg = pcall(cjson.decode, string.sub(entry, 2))
  if ok and type(msg) == 'table' and type(msg['message_id']) == 'string' then
    return msg['message_id']
  end
  return entry
end
local n = tonumber(ARGV[4])
local present = {}
for _, list in ipairs({KEYS[3], KEYS[4]}) do
  for _, entry in ipairs(redis.call('LRANGE', list, 0, -1)) do
    present[sb_message_id(entry)] = true
  end
end
local records, pushed, duplicates = 0, 0, 0
for i = 5, 4 + n do
  local ok, record = pcall(cjson.decode, ARGV[i])
  if ok and type(record) == 'table' and type(record['entries']) == 'table'
     and redis.call('LREM', KEYS[1], 1, ARGV[i]) > 0 then
    records = records + 1
    local held = record['entries']
    for j = #held, 1, -1 do
      local id = sb_message_id(held[j])
      if present[id] then
        duplicates = duplicates + 1
      else
        present[id] = true
        redis.call('LPUSH', KEYS[3], held[j])
        pushed = pushed + 1
      end
    end
  end
end
if redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4]) == 0 then
  return {records, pushed, duplicates, 0}
end
redis.call('SADD', KEYS[5], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then return {records, pushed, duplicates, 0} end
sb_enqueue(KEYS[2], KEYS[6], KEYS[7], KEYS[8], ARGV[2], ARGV[3], 5 + n)
return {records, pushed, duplicates, 1}
"""
)
