import RedisClient

/// The Lua scripts behind every change of a job's state. Each runs atomically on the server (no
/// other client sees half of a change) and is one round trip for a whole batch. A script stopped by
/// an error keeps the writes it made before it, so the scripts check what could fail (a fence, a
/// missing field, a foreign key) before they write.
///
/// Conventions shared by all of them (docs/redis.md describes the layout):
/// - `KEYS[1]` is the queue's hash tag `{prefix:queue}`; every key a script touches is `KEYS[1]`
///   plus a suffix, so it lies in that key's cluster slot even though job keys are only known
///   inside the script.
/// - Time is Redis's `TIME`, never an argument: deadlines and due times agree across hosts whose
///   clocks differ. Needs Redis 6.2 or later (`RPOP` with a count; scripts replicate their
///   effects, so `TIME` before a write is allowed).
/// - Results never hold a Lua `nil` (it would cut an array short): a missing value is `false`,
///   which arrives as a nil reply.
enum RedisScripts {
    /// Adds jobs. ARGV: queue, then 10 per job: id, handler, payload, max_attempts, delay_ms,
    /// timeout_ms, unique_key ("" for none), origin ("" for none), concurrency_key ("" for none),
    /// concurrency_limit. Returns the id each job has.
    ///
    /// Guarantees: a unique key held by a pending or running job returns that job's id and adds
    /// nothing; an id that already exists is not written again (a retried enqueue whose first try
    /// did land adds no duplicate); ready jobs join the back of the line in argument order; one
    /// wake-up hint per added job, at most ten.
    static let enqueue = RedisScript(
        name: "enqueue",
        source: Lua.base + Lua.now + Lua.bulk + Lua.wake + Lua.isLive + Lua.expectTypes + """
            expect_types({unique = 'hash', scheduled = 'zset', ready = 'list', wake = 'list'})
            local queue = ARGV[1]
            local first_job = 2

            """ + Lua.enqueueJobs + """

            return ids
            """)

    /// Leases jobs. ARGV: limit, lease_ms, promote_max, owner. Returns `{jobs, buried}`: jobs flat, 10 per
    /// job (id, lease_seq, handler, payload, attempt, max_attempts, enqueued_at, timeout_ms,
    /// last_error, crashes); buried flat, 2 per id moved to dead instead (id, reason).
    ///
    /// Guarantees: due scheduled jobs (at most promote_max, earliest first) join the front of the
    /// line before anything is popped, except retries settled for the back (their `line` field is
    /// `back`, deleted here), which join the back of the line, earliest due first; each job is leased by one caller only; only a job whose state
    /// is ready (or absent, as a plain producer may leave it) is leased: a stale or duplicate id in
    /// the list is dropped; a job missing handler, payload or max_attempts, or holding a value outside
    /// ``JobFieldLimits`` in any field the host reads, or in a state jobhost does not know, goes to dead
    /// with a reason naming the field and the value, never returned and never lost (a job key that is
    /// not a hash is left alone and its id recorded in dead), and the good jobs are leased as usual;
    /// every lease bumps lease_seq, the fencing token, and records `owner` in `lease_owner` in the same
    /// write; a paused queue (its `paused` key exists) leases
    /// nothing. Every read is checked before the writes it leads to, and each popped id is taken off
    /// the list only after it was leased or recorded: an error midway loses no job. A job whose
    /// concurrency key is at its limit (``Lua/slots``) is not leased and counts no attempt: it moves to
    /// the key's waiting list, and the fetch goes on with the jobs behind it.
    static let fetch = RedisScript(
        name: "fetch",
        source: Lua.base + Lua.now + Lua.bulk + Lua.bury + Lua.expectTypes + Lua.fields + Lua.slots + """
            -- scheduled and ready are read before anything is written (typed_read); leases and dead are
            -- written after the first job is.
            expect_types({leases = 'zset', dead = 'zset'})
            local limit, lease_ms, promote_max, owner = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
            local now = now_ms()
            local ready, scheduled = base .. ':ready', base .. ':scheduled'
            local buried = {}
            local function record(id, reason)
              bury(id, reason, now)
              buried[#buried + 1] = id
              buried[#buried + 1] = reason
            end
            -- A key that is not a hash: left as it is for an operator, its id recorded in dead.
            local function record_foreign(id, err)
              redis.call('ZADD', base .. ':dead', now, id)
              buried[#buried + 1] = id
              buried[#buried + 1] = 'job key is not a hash (' .. err .. ')'
            end

            local due = typed_read('scheduled', 'zset', 'ZRANGEBYSCORE', '-inf', decimal(now), 'LIMIT', '0', promote_max)
            if #due > 0 then
              -- Promotion writes to ready before the pops below read it.
              expect_types({ready = 'list'})
              -- Read what each due id is first; then write (nothing below can fail).
              local promoted, behind, foreign, unusable = {}, {}, {}, {}
              -- Latest due first, so the earliest due ends up at the very front of the line; retries
              -- settled for the back (`line` = back) join the other end, earliest due nearest the front.
              for i = #due, 1, -1 do
                local f = redis.pcall('HMGET', job_key(due[i]), 'state', 'line')
                if f.err then
                  foreign[#foreign + 1] = {due[i], f.err}
                elseif f[2] == 'back' and (f[1] == 'scheduled' or f[1] == 'ready') then
                  table.insert(behind, 1, due[i])
                elseif f[1] == false or f[1] == 'scheduled' or f[1] == 'ready' then
                  -- A hash that is gone is made ready too: the pop below records it as incomplete.
                  promoted[#promoted + 1] = due[i]
                elseif not known_states[f[1]] then
                  unusable[#unusable + 1] = {due[i], unknown_state(f[1])}
                end
                -- running, done, dead: a stale member; the job is elsewhere.
              end
              bulk('ZREM', scheduled, due)
              for _, id in ipairs(promoted) do redis.call('HSET', job_key(id), 'state', 'ready', 'updated_at', now) end
              bulk('RPUSH', ready, promoted)
              for _, id in ipairs(behind) do
                redis.call('HSET', job_key(id), 'state', 'ready', 'updated_at', now)
                redis.call('HDEL', job_key(id), 'line')
              end
              bulk('LPUSH', ready, behind)
              for _, item in ipairs(foreign) do record_foreign(item[1], item[2]) end
              for _, item in ipairs(unusable) do record(item[1], item[2]) end
            end
            -- After the promotion, so listings of a paused queue agree with its stats.
            if redis.call('EXISTS', base .. ':paused') == 1 then return {{}, {}} end

            -- The fields a fetch reads, checked: the job's values, or nil and the reason it cannot run.
            local function usable(f)
              if not f[2] or f[2] == '' or not f[3] or not f[5] or f[5] == '' then
                local missing = {}
                if not f[2] or f[2] == '' then missing[#missing + 1] = 'handler' end
                if not f[3] then missing[#missing + 1] = 'payload' end
                if not f[5] or f[5] == '' then missing[#missing + 1] = 'max_attempts' end
                return nil, 'job hash missing fields: ' .. table.concat(missing, ', ')
              end
              local max_attempts, attempt, enqueued_at, timeout_ms, lease_seq, crashes, slot_limit, reason
              max_attempts, reason = int_field('max_attempts', f[5], 1, limits.max_attempts)
              if not max_attempts then return nil, reason end
              attempt, reason = int_field('attempt', f[4], 0, limits.attempt, 0)
              if not attempt then return nil, reason end
              enqueued_at, reason = int_field('enqueued_at', f[6], limits.time_low, limits.time_high, now)
              if not enqueued_at then return nil, reason end
              timeout_ms, reason = int_field('timeout_ms', f[7], 0, limits.timeout_ms, 0)
              if not timeout_ms then return nil, reason end
              lease_seq, reason = int_field('lease_seq', f[9], 0, limits.lease_seq, 0)
              if not lease_seq then return nil, reason end
              crashes, reason = int_field('crashes', f[10], 0, limits.crashes, 0)
              if not crashes then return nil, reason end
              if f[11] and f[11] ~= '' then
                slot_limit, reason = int_field('concurrency_limit', f[12], 1, limits.concurrency_limit)
                if not slot_limit then return nil, reason end
              end
              return {max_attempts = max_attempts, attempt = attempt, enqueued_at = enqueued_at, timeout_ms = timeout_ms,
                lease_seq = lease_seq, crashes = crashes, slot_limit = slot_limit}
            end

            local jobs, leases = {}, base .. ':leases'
            local leased = 0
            -- Every lease of the batch has one deadline, and `now` is written to each job: formatted once.
            local deadline, now_text = decimal(now + lease_ms), decimal(now)
            -- Jobs whose place a full key's check found free: pushed after the loop, which reads the
            -- front of the line by position.
            local woken = {}
            while leased < limit do
              -- Read from the right end (the front of the line), trimmed once every id read is
              -- handled: a script stopped midway leaves the ids in the list rather than losing them.
              local ids = typed_read('ready', 'list', 'LRANGE', decimal(leased - limit), '-1')
              if #ids == 0 then break end
              -- Deadline–id pairs for one ZADD, made before the ids leave the list.
              local lease_pairs = {}
              for i = #ids, 1, -1 do
                local id = ids[i]
                local key = job_key(id)
                -- pcall: one foreign key must not stop a batch.
                local f = redis.pcall('HMGET', key, 'state', 'handler', 'payload', 'attempt', 'max_attempts',
                  'enqueued_at', 'timeout_ms', 'last_error', 'lease_seq', 'crashes', 'concurrency_key')
                -- The limit only with a key (the hash is one: its HMGET worked): most jobs have neither.
                if not f.err and f[11] and f[11] ~= '' then f[12] = redis.call('HGET', key, 'concurrency_limit') end
                if f.err then
                  record_foreign(id, f.err)
                elseif f[1] == false or f[1] == 'ready' then
                  local job, reason = usable(f)
                  local may_run = true
                  if job and job.slot_limit then
                    local found
                    may_run, found = take_slot(id, f[11], job.slot_limit)
                    for _, other in ipairs(found) do woken[#woken + 1] = other end
                    if not may_run then wait_for_slot(id, f[11], now) end
                  end
                  if not job then
                    record(id, reason)
                  elseif may_run then
                    local attempt, seq = job.attempt + 1, job.lease_seq + 1
                    local fields = {'state', 'running', 'attempt', decimal(attempt), 'lease_seq', decimal(seq), 'updated_at', now_text,
                      'lease_owner', owner}
                    -- A missing enqueued_at becomes this first fetch's time.
                    if not f[6] or f[6] == '' then
                      fields[11], fields[12] = 'enqueued_at', now_text
                    end
                    -- Only a job leased before can hold the heartbeat of an earlier run (the progress script
                    -- writes only under a lease); a new attempt starts without one.
                    if job.lease_seq > 0 then
                      fields[#fields + 1], fields[#fields + 2], fields[#fields + 3], fields[#fields + 4] = 'progress', '', 'note', ''
                    end
                    redis.call('HSET', key, unpack(fields))
                    lease_pairs[#lease_pairs + 1] = deadline
                    lease_pairs[#lease_pairs + 1] = id
                    local n = #jobs
                    jobs[n + 1] = id
                    jobs[n + 2] = seq
                    jobs[n + 3] = f[2]
                    jobs[n + 4] = f[3]
                    jobs[n + 5] = attempt
                    jobs[n + 6] = job.max_attempts
                    jobs[n + 7] = job.enqueued_at
                    jobs[n + 8] = job.timeout_ms
                    jobs[n + 9] = f[8]
                    jobs[n + 10] = job.crashes
                    leased = leased + 1
                  end
                elseif not known_states[f[1]] then
                  record(id, unknown_state(f[1]))
                end
                -- running, scheduled, done, dead: a stale or duplicate id; the job is elsewhere.
              end
              bulk('ZADD', leases, lease_pairs)
              redis.call('LTRIM', ready, '0', decimal(-(#ids + 1)))
            end
            bulk('RPUSH', ready, woken)
            return {jobs, buried}
            """)

    /// Settles leased jobs. ARGV: the queue's retry position (front or back), then 7 per item: op (done, retry, dead, release, crashed), id, token, ms
    /// (retention for done, delay for retry and crashed; "" for crashed: no retry), error text (the
    /// result for done), the run's outcome for the attempt history (``JobAttempt/Outcome``), the signal
    /// that crashed it ("" for none). Returns 1 or 0 per item.
    ///
    /// Guarantees: an item whose job is not running under exactly this token (the lease was
    /// rescued, the job settled already, an earlier item of this batch settled it) changes nothing
    /// and returns 0; every other item removes the lease and moves the job on: done (counted in
    /// processed; kept in the done set, or deleted at once for retention 0; unique key freed),
    /// retry (counted in failed; scheduled after the delay, or ready at once for no delay — at the
    /// front of the line, or with position `back` at its back, or marked `line` = back for the fetch
    /// that promotes it), dead
    /// (counted in failed; unique key freed), release (ready at the front of the line, the attempt
    /// not counted), crashed (the job's crashes field + 1, then as retry with the delay, or as dead
    /// without one; a crashes field that cannot take one more crash makes the job dead with a reason
    /// naming it); a job with a concurrency key frees its place, and the job waiting longest for that
    /// key joins the front of the line. Every item but a done one appends the run to the job's attempt history
    /// (``Lua/attempts``); a done one kept records the claim time as `started_at`, from which
    /// ``RedisBackend/job(queue:id:)`` reads its last run back. A dead item is a failed run and a done
    /// one ends its streaks (``Lua/runStreaks``); a done item looks for streaks only while the queue
    /// has one. The whole batch is one atomic step, and every item is read and
    /// checked before the first write: no item can stop the batch halfway.
    static let settle = RedisScript(
        name: "settle",
        source: Lua.base + Lua.now + Lua.bulk + Lua.wake + Lua.freeUnique + Lua.expectTypes + Lua.fields + Lua.addCount + Lua.release
            + Lua.attempts + Lua.runStreaks + Lua.slots + """
            local now = now_ms()
            local now_text = decimal(now)
            local results = {}
            -- First every item is read and decided, then the whole batch written: Redis keeps the writes
            -- of a script stopped by an error, so nothing that could fail comes after the first write.
            local plan, taken = {}, {}
            -- Where a retried job joins the line: 'back' behind every ready job (see fetch's promotion).
            local back = ARGV[1] == 'back'
            for i = 2, #ARGV, 7 do
              local op, id, token, ms, text = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4]
              -- A job done with retention 0 is deleted: it records no run, and its settle reads no more
              -- than the fence and the keys it frees (the hot path of most queues). A job done and
              -- kept appends nothing either: its last run is read back from its fields (the claim time
              -- kept as started_at, updated_at, lease_owner, attempt), so the hash of a job that ran
              -- once holds no value longer than Redis's compact hash encoding takes (64 bytes), and
              -- the settle encodes no JSON.
              local recorded = not (op == 'done')
              -- A key that is no longer a hash holds no lease.
              local f
              if recorded then
                f = redis.pcall('HMGET', job_key(id), 'state', 'lease_seq', 'unique_key', 'concurrency_key', 'updated_at', 'attempt',
                  'crashes', 'lease_owner', 'attempts')
              elseif ms > 0 then
                f = redis.pcall('HMGET', job_key(id), 'state', 'lease_seq', 'unique_key', 'concurrency_key', 'updated_at')
              else
                f = redis.pcall('HMGET', job_key(id), 'state', 'lease_seq', 'unique_key', 'concurrency_key')
              end
              if f.err or f[1] ~= 'running' or f[2] ~= token or taken[id] then
                results[#results + 1] = 0
              else
                results[#results + 1] = 1
                taken[id] = true
                local item = {id = id, op = op, ms = ms, text = text, unique = f[3], attempt = f[6], slot = f[4]}
                -- The claim set updated_at, and nothing changes it while the job runs: the run's start.
                if recorded then
                  item.history = attempt_history(f[9], f[6], f[5], f[8], ARGV[i + 5], ARGV[i + 6], text, now)
                elseif ms > 0 then
                  item.started = int(f[5]) and f[5] or now_text
                end
                if op == 'crashed' then
                  -- A crash is a failed attempt that also counts against the job as possible poison.
                  local crashes, reason = int_field('crashes', f[7], 0, limits.crashes, 0)
                  if crashes then
                    item.crashes = crashes + 1
                    item.op = ms and 'retry' or 'dead'
                  else
                    -- One more crash cannot be counted: the job is unusable, and dead.
                    item.op = 'dead'
                    item.text = reason
                  end
                end
                plan[#plan + 1] = item
              end
            end

            -- A done job looks for streaks to end only when the queue has one: most settles never do.
            local streaks = #plan > 0 and streaks_exist()
            -- The keys the writes below reach, checked before the first of them (a key of another type
            -- would stop the batch halfway); most batches, all done, reach two.
            local reached = {}
            if #plan > 0 then reached.leases = 'zset' end
            for _, item in ipairs(plan) do
              local op = item.op
              if op == 'done' or op == 'dead' then
                if item.unique and item.unique ~= '' then reached.unique = 'hash' end
                if streaks or op == 'dead' then reached.run_streaks, reached.run_alerts = 'hash', 'list' end
              end
              if op == 'done' then
                reached.stats = 'hash'
                if item.ms > 0 then reached.done = 'zset' end
              elseif op == 'dead' then
                reached.stats, reached.dead = 'hash', 'zset'
              elseif op == 'retry' and item.ms > 0 then
                reached.stats, reached.scheduled, reached.wake = 'hash', 'zset', 'list'
              else
                -- retry at once, release: into the line
                if op == 'retry' then reached.stats = 'hash' end
                reached.ready, reached.wake = 'list', 'list'
              end
              -- Freeing a place can make a waiting job ready.
              if item.slot and item.slot ~= '' then reached.ready, reached.wake = 'list', 'list' end
            end
            expect_types(reached)

            -- Writes to the queue's shared keys are gathered and made once per batch, not per job.
            local settled, done, dead, scheduled, ready, behind = {}, {}, {}, {}, {}, {}
            -- Jobs that waited for a place one of these frees: at the very front, they were in line first.
            local freed = {}
            local processed, failed = 0, 0
            -- Job hashes deleted at once, with retention 0: one DEL for the batch.
            local deleted = {}
            for _, item in ipairs(plan) do
              local id, op, ms, text = item.id, item.op, item.ms, item.text
              local key = job_key(id)
              settled[#settled + 1] = id
              local next_in_line = free_slot(id, item.slot)
              if next_in_line then freed[#freed + 1] = next_in_line end
              if item.crashes then redis.call('HSET', key, 'crashes', item.crashes) end
              if op == 'done' then
                processed = processed + 1
                free_unique(id, item.unique)
                if streaks then
                  local g = redis.call('HMGET', key, 'handler', 'schedule')
                  run_succeeded(g[1], g[2], now)
                end
                if ms > 0 then
                  -- The handler's result, if it set one (an empty text: none).
                  if text ~= '' then
                    redis.call('HSET', key, 'state', 'done', 'updated_at', now_text, 'started_at', item.started, 'result', text)
                  else
                    redis.call('HSET', key, 'state', 'done', 'updated_at', now_text, 'started_at', item.started)
                  end
                  done[#done + 1] = now_text
                  done[#done + 1] = id
                else
                  deleted[#deleted + 1] = key
                end
              elseif op == 'retry' then
                failed = failed + 1
                if ms > 0 then
                  redis.call('HSET', key, 'state', 'scheduled', 'last_error', text, 'updated_at', now, 'attempts', item.history)
                  -- The fetch that promotes it once due reads this to put it at the back.
                  if back then redis.call('HSET', key, 'line', 'back') end
                  scheduled[#scheduled + 1] = now + ms
                  scheduled[#scheduled + 1] = id
                else
                  redis.call('HSET', key, 'state', 'ready', 'last_error', text, 'updated_at', now, 'attempts', item.history)
                  if back then behind[#behind + 1] = id else ready[#ready + 1] = id end
                end
              elseif op == 'dead' then
                failed = failed + 1
                free_unique(id, item.unique)
                local g = redis.call('HMGET', key, 'handler', 'schedule')
                run_failed(id, g[1], g[2], text, now)
                streaks = true
                redis.call('HSET', key, 'state', 'dead', 'last_error', text, 'updated_at', now, 'attempts', item.history)
                dead[#dead + 1] = now
                dead[#dead + 1] = id
              else
                release_job(id, item.attempt, now)
                redis.call('HSET', key, 'attempts', item.history)
                ready[#ready + 1] = id
              end
            end
            for first = 1, #deleted, 1000 do redis.call('DEL', unpack(deleted, first, math.min(first + 999, #deleted))) end
            bulk('ZREM', base .. ':leases', settled)
            add_count('processed', processed)
            add_count('failed', failed)
            bulk('ZADD', base .. ':done', done)
            bulk('ZADD', base .. ':dead', dead)
            bulk('ZADD', base .. ':scheduled', scheduled)
            bulk('RPUSH', base .. ':ready', ready)
            bulk('LPUSH', base .. ':ready', behind)
            bulk('RPUSH', base .. ':ready', freed)
            -- Scheduled retries wake idle hosts too, so they recompute how long to sleep.
            wake(#ready + #behind + #scheduled + #freed)
            return results
            """)

    /// Extends leases. ARGV: lease_ms, then 2 per item: id, token. Returns 1 or 0 per item.
    ///
    /// Guarantees: only a job running under exactly this token gets a new deadline, now + lease_ms.
    static let extend = RedisScript(
        name: "extend",
        source: Lua.base + Lua.now + Lua.expectTypes + Lua.holdsLease + """
            expect_types({leases = 'zset'})
            local deadline = now_ms() + tonumber(ARGV[1])
            local results = {}
            for i = 2, #ARGV, 2 do
              local id = ARGV[i]
              if holds_lease(id, ARGV[i + 1]) then
                redis.call('ZADD', base .. ':leases', 'XX', deadline, id)
                results[#results + 1] = 1
              else
                results[#results + 1] = 0
              end
            end
            return results
            """)

    /// Records heartbeat progress. ARGV: 4 per item: id, token, progress ('' for none), note ('' for
    /// none). Returns 1 or 0 per item.
    ///
    /// Guarantees: only a job running under exactly this token is written.
    static let progress = RedisScript(
        name: "progress",
        source: Lua.base + Lua.holdsLease + """
            local results = {}
            for i = 1, #ARGV, 4 do
              local id = ARGV[i]
              if holds_lease(id, ARGV[i + 1]) then
                redis.call('HSET', job_key(id), 'progress', ARGV[i + 2], 'note', ARGV[i + 3])
                results[#results + 1] = 1
              else
                results[#results + 1] = 0
              end
            end
            return results
            """)

    /// Rescues jobs whose lease deadline passed. ARGV: limit. Returns `{rescued, dead}`.
    ///
    /// Guarantees: each expired lease is removed; its job counts a failed attempt and goes to ready
    /// (front of the line, last_error saying the lease expired) or, with its attempts used up, to
    /// dead with a reason naming the lease; a job not running any more (settled meanwhile) is left
    /// alone; a lease whose job hash is gone, whose attempt counts cannot be used or whose state is
    /// unknown is recorded in dead with that reason rather than forgotten; all leases are read and
    /// checked before the first write. The old
    /// holder's token is stale from here on: the job is no longer running, and its next fetch bumps
    /// lease_seq.
    static let rescue = RedisScript(
        name: "rescue",
        source: Lua.base + Lua.now + Lua.wake + Lua.bulk + Lua.freeUnique + Lua.bury + Lua.expectTypes + Lua.fields + Lua.addCount
            + Lua.attempts + Lua.runStreaks + Lua.slots + Lua.rescueLeases + """
            expect_types({leases = 'zset', stats = 'hash', dead = 'zset', ready = 'list', unique = 'hash', wake = 'list',
              run_streaks = 'hash', run_alerts = 'list'})
            local now = now_ms()
            local expired = redis.call('ZRANGEBYSCORE', base .. ':leases', '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
            local rescued, dead = rescue_leases(expired, now)
            return {rescued, dead}
            """)

    /// Deletes done jobs. ARGV: retention_ms, limit. Returns how many.
    ///
    /// Guarantees: only members of the done set that finished strictly before now − retention go,
    /// hash and member together; a member whose hash is in a state jobhost does not know (an edit)
    /// is recorded in dead with that reason; a member whose hash is in another state (cannot happen
    /// through these scripts) loses only the stale member.
    static let prune = RedisScript(
        name: "prune",
        source: Lua.base + Lua.now + Lua.bulk + Lua.bury + Lua.expectTypes + Lua.fields + """
            expect_types({done = 'zset', dead = 'zset'})
            local done = base .. ':done'
            local now = now_ms()
            local ids = redis.call('ZRANGEBYSCORE', done, '-inf', '(' .. (now - tonumber(ARGV[1])), 'LIMIT', 0, tonumber(ARGV[2]))
            local gone, unusable = {}, {}
            for _, id in ipairs(ids) do
              local state = redis.pcall('HGET', job_key(id), 'state')
              if state == 'done' then
                gone[#gone + 1] = id
              elseif type(state) == 'string' and not known_states[state] then
                unusable[#unusable + 1] = id
                unusable[#unusable + 1] = unknown_state(state)
              end
            end
            for _, id in ipairs(gone) do redis.call('DEL', job_key(id)) end
            bulk('ZREM', done, ids)
            for i = 1, #unusable, 2 do bury(unusable[i], unusable[i + 1], now) end
            return #gone
            """)

    /// Counts. Returns ready, running, scheduled, dead, done, processed, failed, oldest ready age in
    /// ms (-1 for none), paused (1 or 0). Read-only. A counter or time an edit left unusable reads as
    /// none.
    ///
    /// Guarantees: scheduled jobs already due count as ready (they are, for the next fetch); the
    /// oldest age is the longer of the wait of the job at the front of the line (since it last
    /// became ready) and the time since the earliest due scheduled job became due.
    static let stats = RedisScript(
        name: "stats",
        source: Lua.base + Lua.now + Lua.fields + """
            local now = now_ms()
            local ready, scheduled = base .. ':ready', base .. ':scheduled'
            local due = redis.call('ZCOUNT', scheduled, '-inf', now)
            local counts = redis.call('HMGET', base .. ':stats', 'processed', 'failed')
            local oldest = -1
            local head = redis.call('LINDEX', ready, -1)
            if head then
              -- pcall: a foreign key where the head's hash should be has no age.
              local t = redis.pcall('HMGET', job_key(head), 'updated_at', 'enqueued_at')
              local since = not t.err and (int_field('updated_at', t[1], limits.time_low, limits.time_high, false)
                or int_field('enqueued_at', t[2], limits.time_low, limits.time_high, false))
              if since then oldest = math.max(0, now - since) end
            end
            if due > 0 then
              local first = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
              oldest = math.max(oldest, now - tonumber(first[2]))
            end
            -- Jobs waiting for a place under their concurrency key are ready: only their key holds them.
            return {redis.call('LLEN', ready) + due + redis.call('ZCARD', base .. ':waiting'), redis.call('ZCARD', base .. ':leases'),
              redis.call('ZCARD', scheduled) - due, redis.call('ZCARD', base .. ':dead'),
              redis.call('ZCARD', base .. ':done'), int(counts[1]) or 0, int(counts[2]) or 0, oldest,
              redis.call('EXISTS', base .. ':paused')}
            """)

    /// Lists jobs in one state, newest first. ARGV: state (ready, running, scheduled, dead, done),
    /// offset, limit (at least 1). Returns 11 per job: id, handler, state, payload, attempt,
    /// max_attempts, enqueued_at, last_error, updated_at, origin, crashes. Read-only.
    ///
    /// Guarantees: one consistent snapshot; ids whose hash is gone are left out; an id whose key is
    /// not a hash is listed with that as its last error.
    static let list = RedisScript(
        name: "list",
        source: Lua.base + """
            local state, first = ARGV[1], tonumber(ARGV[2])
            local last = first + tonumber(ARGV[3]) - 1
            local ids
            if state == 'ready' then
              ids = redis.call('LRANGE', base .. ':ready', first, last)
              -- Then the jobs waiting for a place under their concurrency key, longest waiting last.
              local length = redis.call('LLEN', base .. ':ready')
              if last >= length then
                local more = redis.call('ZREVRANGE', base .. ':waiting', math.max(0, first - length), last - length)
                for _, id in ipairs(more) do ids[#ids + 1] = id end
              end
            else
              local set = state == 'running' and 'leases' or state
              ids = redis.call('ZREVRANGE', base .. ':' .. set, first, last)
            end
            local out = {}
            for _, id in ipairs(ids) do
              local f = redis.pcall('HMGET', job_key(id), 'handler', 'state', 'payload', 'attempt', 'max_attempts',
                'enqueued_at', 'last_error', 'updated_at', 'origin', 'crashes', 'result', 'progress', 'note')
              if f.err then
                -- A foreign key where the job's hash should be: shown, not hidden, and not fatal to the listing.
                out[#out + 1] = id
                local row = {'', state, '', 0, 0, 0, 'job key is not a hash (' .. f.err .. ')', false, false, 0, false, false, false}
                for j = 1, 13 do out[#out + 1] = row[j] end
              elseif f[1] or f[2] then
                out[#out + 1] = id
                for j = 1, 13 do out[#out + 1] = f[j] end
              end
            end
            return out
            """)

    /// Brings a dead job back. ARGV: id. Returns 1, or 0 if the job is not dead.
    ///
    /// Guarantees: attempts restart at 0 (lease_seq does not: tokens never repeat); the job is
    /// ready at the front of the line; its unique key is claimed again unless a live job holds it.
    static let retryDead = RedisScript(
        name: "retry_dead",
        source: Lua.base + Lua.now + Lua.wake + Lua.isLive + Lua.expectTypes + """
            expect_types({dead = 'zset', unique = 'hash', ready = 'list', wake = 'list'})
            local id = ARGV[1]
            local key = job_key(id)
            local f = redis.call('HMGET', key, 'state', 'unique_key')
            if f[1] ~= 'dead' then return 0 end
            redis.call('ZREM', base .. ':dead', id)
            redis.call('HSET', key, 'state', 'ready', 'attempt', 0, 'updated_at', now_ms())
            if f[2] and f[2] ~= '' then
              local holder = redis.call('HGET', base .. ':unique', f[2])
              if not holder or not is_live(holder) then redis.call('HSET', base .. ':unique', f[2], id) end
            end
            redis.call('RPUSH', base .. ':ready', id)
            wake(1)
            return 1
            """)

    /// Deletes a dead job. ARGV: id. Returns 1, or 0 if the job is not dead.
    ///
    /// Guarantees: hash and dead-set member go together; anything else is left untouched. A dead
    /// id whose key is not a hash (see fetch) is deleted the same way.
    static let discardDead = RedisScript(
        name: "discard_dead",
        source: Lua.base + Lua.freeUnique + Lua.expectTypes + """
            expect_types({dead = 'zset', unique = 'hash'})
            local id = ARGV[1]
            local f = redis.pcall('HMGET', job_key(id), 'state', 'unique_key')
            if f.err then
              -- A foreign key recorded in dead by fetch: discarding deletes it.
              if not redis.call('ZSCORE', base .. ':dead', id) then return 0 end
            elseif f[1] ~= 'dead' then
              return 0
            end
            free_unique(id, f[2])
            redis.call('DEL', job_key(id))
            redis.call('ZREM', base .. ':dead', id)
            return 1
            """)

    /// What an idle host may sleep for. Returns 0 if jobs are ready (or scheduled ones due), the ms
    /// until the earliest scheduled job is due, -1 if nothing is ready or scheduled, or -2 if the
    /// queue is paused (its ready jobs are no work: a host must not return at once and poll).
    /// Read-only.
    static let waitInfo = RedisScript(
        name: "wait_info",
        source: Lua.base + Lua.now + """
            if redis.call('EXISTS', base .. ':paused') == 1 then return -2 end
            if redis.call('LLEN', base .. ':ready') > 0 then return 0 end
            local first = redis.call('ZRANGE', base .. ':scheduled', 0, 0, 'WITHSCORES')
            if #first == 0 then return -1 end
            return math.max(0, tonumber(first[2]) - now_ms())
            """)

    /// Pauses or resumes the queue. ARGV: 1 to pause, 0 to resume. Returns 1 if the state changed.
    ///
    /// Guarantees: `paused` holds the time of the pause (ms), kept when pausing again; resuming
    /// deletes it and pushes 10 hints onto `resumed`, where hosts waiting on a paused queue block
    /// (not on `wake`, which every enqueue pushes to), so they fetch at once. The hints expire after
    /// a second: nobody heard them then, and stale ones would wake hosts during the next pause.
    static let setPaused = RedisScript(
        name: "set_paused",
        source: Lua.base + Lua.now + Lua.expectTypes + """
            expect_types({paused = 'string', resumed = 'list'})
            local paused, resumed = base .. ':paused', base .. ':resumed'
            if ARGV[1] == '1' then
              return redis.call('SET', paused, now_ms(), 'NX') and 1 or 0
            end
            if redis.call('DEL', paused) == 0 then return 0 end
            redis.call('LPUSH', resumed, '1', '1', '1', '1', '1', '1', '1', '1', '1', '1')
            redis.call('LTRIM', resumed, 0, 9)
            redis.call('PEXPIRE', resumed, 1000)
            return 1
            """)

    /// Every script, for tests that check them all.
    static let all = [
        enqueue, claimFire, fetch, settle, extend, rescue, prune, stats, list, retryDead, discardDead, waitInfo, setPaused,
        setScheduleSwitch, reclaim, claimHost, refreshHost, releaseHost, cancel, discardPending, search, pruneDead,
    ]
}
