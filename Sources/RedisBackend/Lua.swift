import Backend

/// Pieces of Lua the scripts share; each script includes only those it uses.
enum Lua {
    /// The body of enqueue: adds the jobs in ARGV from `first_job` on, 10 arguments each, to the queue
    /// named `queue`; leaves their ids in `ids`. Needs base, now, bulk, wake and is_live.
    static let enqueueJobs = """
            local now = now_ms()
            local now_text = decimal(now)
            local ids, ready = {}, {}
            local added = 0
            for i = first_job, #ARGV, 10 do
              local id, unique = ARGV[i], ARGV[i + 6]
              local holder = false
              if unique ~= '' then
                holder = redis.call('HGET', base .. ':unique', unique)
                if holder and not is_live(holder) then holder = false end
              end
              if holder then
                ids[#ids + 1] = holder
              else
                ids[#ids + 1] = id
                local key = job_key(id)
                if redis.call('EXISTS', key) == 0 then
                  local delay = tonumber(ARGV[i + 4])
                  -- The fields every fetch and settle reads first: a small hash is a list Redis reads
                  -- from its start for each field.
                  local fields = {'state', delay > 0 and 'scheduled' or 'ready', 'lease_seq', '0', 'attempt', '0',
                    'handler', ARGV[i + 1], 'payload', ARGV[i + 2], 'max_attempts', ARGV[i + 3], 'enqueued_at', now_text,
                    'timeout_ms', ARGV[i + 5], 'updated_at', now_text, 'id', id, 'queue', queue}
                  if unique ~= '' then
                    fields[#fields + 1] = 'unique_key'
                    fields[#fields + 1] = unique
                    redis.call('HSET', base .. ':unique', unique, id)
                  end
                  if ARGV[i + 7] ~= '' then
                    fields[#fields + 1] = 'origin'
                    fields[#fields + 1] = ARGV[i + 7]
                  end
                  if ARGV[i + 8] ~= '' then
                    fields[#fields + 1] = 'concurrency_key'
                    fields[#fields + 1] = ARGV[i + 8]
                    fields[#fields + 1] = 'concurrency_limit'
                    fields[#fields + 1] = ARGV[i + 9]
                  end
                  redis.call('HSET', key, unpack(fields))
                  if delay > 0 then
                    redis.call('ZADD', base .. ':scheduled', decimal(now + delay), id)
                  else
                    ready[#ready + 1] = id
                  end
                  added = added + 1
                end
              end
            end
            -- In order, so the first enqueued is the first popped.
            bulk('LPUSH', base .. ':ready', ready)
            wake(added)
        """

    /// `base`, the queue's hash-tag key prefix, and the key of a job's hash.
    static let base = """
        local base = KEYS[1]
        local function job_key(id) return base .. ':job:' .. id end

        """

    /// Redis's clock in ms, and `decimal(n)`: an integer as the text a command takes. Lua hands a
    /// number argument to Redis through C's `%.17g`, whose floating-point formatting cost more per
    /// job in fetch than all the hash reads; an integer formatted as one is several times cheaper.
    static let now = """
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end

        local function decimal(n)
          return string.format('%d', n)
        end

        """

    /// `bulk(command, key, args)`: one command with many arguments, in chunks of at most 1,000 (an even
    /// number, so score–member pairs stay together) because Lua's `unpack` cannot spread a table of any
    /// length; nothing at all for no arguments.
    static let bulk = """
        local function bulk(command, key, args)
          for first = 1, #args, 1000 do
            redis.call(command, key, unpack(args, first, math.min(first + 999, #args)))
          end
        end

        """

    /// `expect_types{suffix = type, …}`: stops the script before it writes anything if a key of the
    /// queue holds another type than jobhost keeps there. Without it the first write to such a key
    /// would fail halfway through a script, after earlier writes that cannot be undone, and could
    /// leave a job half-moved (out of one set, not yet in the next). Each key costs a command, so the
    /// hot scripts check only the keys they are about to write.
    ///
    /// `typed_read(suffix, type, command, args…)`: a read of the key as that type (`LRANGE`,
    /// `ZRANGEBYSCORE`), which Redis refuses for a key of another type. Made before the script's first
    /// write, it is that key's check for free: its refusal stops the script with the same error as
    /// `expect_types`, naming the key.
    static let expectTypes = """
        local function expect_types(expected)
          for suffix, kind in pairs(expected) do
            local actual = redis.call('TYPE', base .. ':' .. suffix)['ok']
            if actual ~= 'none' and actual ~= kind then
              error({err = 'WRONGTYPE key ' .. base .. ':' .. suffix .. ' holds a ' .. actual .. ', not a ' .. kind})
            end
          end
        end

        local function typed_read(suffix, kind, command, ...)
          local reply = redis.pcall(command, base .. ':' .. suffix, ...)
          if type(reply) == 'table' and reply.err then
            expect_types({[suffix] = kind})
            error(reply)
          end
          return reply
        end

        """

    /// Pushes up to ten hints onto the wake list, for idle hosts blocked in BRPOP on it; trimmed so
    /// hints nobody heard stay few (each costs an idle host one early return).
    static let wake = """
        local function wake(n)
          if n > 0 then
            local hints = {}
            for i = 1, math.min(n, 10) do hints[i] = '1' end
            redis.call('LPUSH', base .. ':wake', unpack(hints))
            redis.call('LTRIM', base .. ':wake', '0', '9')
          end
        end

        """

    /// `release_job(id, attempt, now)`: what a release does to a held job's hash — ready again, the
    /// attempt its fetch counted given back (`attempt` is the field as read; unusable reads as 1) —
    /// for settle's `release` and reclaim's. The caller removes the lease and pushes the id on the
    /// right of `ready` (the front of the line). Needs base and fields.
    static let release = """
        local function release_job(id, attempt_text, now)
          local attempt = int_field('attempt', attempt_text, 1, limits.attempt + 1, 1) or 1
          redis.call('HSET', job_key(id), 'state', 'ready', 'attempt', attempt - 1, 'updated_at', now)
        end

        """

    /// `rescue_leases(ids, now)`: ends the leases `ids` (members of `leases`) the way an expired lease
    /// ends, for rescue (the expired ones) and reclaim's `rescue` (the ones of a holder that is gone).
    /// Returns rescued, dead.
    ///
    /// Each lease is removed; its job counts a failed attempt and goes to ready (front of the line,
    /// last_error saying the lease expired) or, with its attempts used up, to dead with a reason naming
    /// the lease; a job not running any more (settled meanwhile) is left alone; a lease whose job hash
    /// is gone, whose attempt counts cannot be used or whose state is unknown is recorded in dead with
    /// that reason rather than forgotten; all leases are read and checked before the first write. A
    /// job whose attempt counted gets a `lease_lost` run in its attempt history; one that goes dead
    /// with it is a failed run (``runStreaks``). A job with a concurrency key frees its place (``slots``).
    /// Needs base, wake, bulk, free_unique, bury, fields, add_count, attempts, runStreaks and slots.
    static let rescueLeases = """
        local function rescue_leases(ids, now)
          local leases = base .. ':leases'
          -- Every lease is read and decided first, then written: nothing that could fail comes after
          -- the first write.
          local plan = {}
          for _, id in ipairs(ids) do
            local key = job_key(id)
            local f = redis.pcall('HMGET', key, 'state', 'attempt', 'max_attempts', 'unique_key', 'updated_at', 'lease_owner', 'attempts',
              'handler', 'schedule', 'concurrency_key')
            if f.err then
              -- Not a hash any more: left as it is for an operator, its id recorded in dead.
              plan[#plan + 1] = {id = id, kind = 'foreign'}
            elseif f[1] == 'running' then
              local max_attempts, reason = int_field('max_attempts', f[3], 1, limits.max_attempts)
              local attempt
              if max_attempts then attempt, reason = int_field('attempt', f[2], 0, limits.attempt + 1, 0) end
              if not attempt then
                plan[#plan + 1] = {id = id, kind = 'dead', reason = reason, unique = f[4], failed = true, handler = f[8], schedule = f[9], slot = f[10]}
              else
                local what = ' attempt ' .. attempt .. ' of ' .. max_attempts .. ' (the host running it died or stalled)'
                local item
                if attempt >= max_attempts then
                  item = {id = id, kind = 'dead', reason = 'lease expired after' .. what, unique = f[4], failed = true}
                else
                  item = {id = id, kind = 'ready', reason = 'lease expired during' .. what, failed = true}
                end
                item.run = f
                item.handler, item.schedule, item.slot = f[8], f[9], f[10]
                plan[#plan + 1] = item
              end
            elseif f[1] and not known_states[f[1]] then
              plan[#plan + 1] = {id = id, kind = 'dead', reason = unknown_state(f[1]), unique = f[4], slot = f[10]}
            elseif not f[1] then
              local gone = redis.call('EXISTS', key) == 0
              local reason = gone and 'job hash missing fields: all (its lease expired)' or 'job hash missing fields: state (its lease expired)'
              plan[#plan + 1] = {id = id, kind = 'dead', reason = reason, unique = f[4], slot = f[10]}
            end
            -- ready, scheduled, done, dead: settled meanwhile; only the stale lease goes.
          end

          bulk('ZREM', leases, ids)
          local rescued, dead, failed = 0, 0, 0
          local freed = {}
          for _, item in ipairs(plan) do
            if item.failed then failed = failed + 1 end
            local next_in_line = free_slot(item.id, item.slot)
            if next_in_line then freed[#freed + 1] = next_in_line end
            if item.run then
              local f = item.run
              redis.call('HSET', job_key(item.id), 'attempts', attempt_history(f[7], f[2], f[5], f[6], 'lease_lost', '', item.reason, now))
            end
            if item.kind == 'foreign' then
              redis.call('ZADD', base .. ':dead', now, item.id)
              dead = dead + 1
            elseif item.kind == 'dead' then
              free_unique(item.id, item.unique)
              bury(item.id, item.reason, now)
              -- A run whose attempts are used up failed; a lease on a hash that was not running well is no run.
              if item.failed then run_failed(item.id, item.handler, item.schedule, item.reason, now) end
              dead = dead + 1
            else
              redis.call('HSET', job_key(item.id), 'state', 'ready', 'last_error', item.reason, 'updated_at', now)
              redis.call('RPUSH', base .. ':ready', item.id)
              rescued = rescued + 1
            end
          end
          -- Jobs that waited for a freed place go before the rescued ones: they were in line first.
          bulk('RPUSH', base .. ':ready', freed)
          add_count('failed', failed)
          wake(rescued + #freed)
          return rescued, dead
        end

        """

    /// Concurrency keys (``ConcurrencyLimit``). The running jobs of key K are the members of the set
    /// `slots:K`; jobs a fetch found over their key's limit wait in the list `waiting:K` (they join on
    /// the left, leave from the right, like `ready`) and, for counts and listings, in the sorted set
    /// `waiting` (score: when they began to wait). Their hash keeps state ready.
    /// - `free_slot(id, key)`: job `id` no longer runs under `key` ('' or false: none); takes the job
    ///   waiting longest for the key off its waiting list and returns its id (or false) for the caller
    ///   to push onto the right of `ready`, the front of the line, in the same step.
    /// - `take_slot(id, key, limit)`: whether job `id` may run now; if so it holds a place. A full set is
    ///   first checked for members no longer running (an edit, a hash deleted by hand), which are
    ///   dropped, so a lost release cannot hold a key shut for good; the ids waiting for the places so
    ///   found are returned too, for the caller to make ready.
    /// - `wait_for_slot(id, key, now)`: puts job `id` at the back of the key's waiting list.
    static let slots = """
        local function free_slot(id, key)
          if not key or key == '' then return false end
          redis.call('SREM', base .. ':slots:' .. key, id)
          local next_in_line = redis.call('RPOP', base .. ':waiting:' .. key)
          if next_in_line then redis.call('ZREM', base .. ':waiting', next_in_line) end
          return next_in_line
        end

        local function take_slot(id, key, limit)
          local slots = base .. ':slots:' .. key
          local woken = {}
          if redis.call('SCARD', slots) >= limit then
            for _, member in ipairs(redis.call('SMEMBERS', slots)) do
              local state = redis.pcall('HGET', job_key(member), 'state')
              if state ~= 'running' then
                redis.call('SREM', slots, member)
                local next_in_line = redis.call('RPOP', base .. ':waiting:' .. key)
                if next_in_line then
                  redis.call('ZREM', base .. ':waiting', next_in_line)
                  woken[#woken + 1] = next_in_line
                end
              end
            end
            if redis.call('SCARD', slots) >= limit then return false, woken end
          end
          redis.call('SADD', slots, id)
          return true, woken
        end

        local function wait_for_slot(id, key, now)
          redis.call('LPUSH', base .. ':waiting:' .. key, id)
          redis.call('ZADD', base .. ':waiting', now, id)
        end

        """

    /// Frees a unique key, but only if this job holds it.
    static let freeUnique = """
        local function free_unique(id, unique)
          if unique and unique ~= '' and redis.call('HGET', base .. ':unique', unique) == id then
            redis.call('HDEL', base .. ':unique', unique)
          end
        end

        """

    /// Whether a job blocks others with its unique key: it exists and is pending or running.
    static let isLive = """
        local function is_live(id)
          -- pcall: a foreign key where the holder's hash should be holds nothing.
          local state = redis.pcall('HGET', job_key(id), 'state')
          return state == 'ready' or state == 'running' or state == 'scheduled'
        end

        """

    /// Records a job that cannot run as dead with a reason, keeping whatever fields its hash has
    /// (creating the hash if it is gone), so nothing disappears without a trace.
    static let bury = """
        local function bury(id, reason, now)
          local key = job_key(id)
          redis.call('HSET', key, 'id', id, 'state', 'dead', 'last_error', reason, 'updated_at', now)
          redis.call('HSETNX', key, 'enqueued_at', now)
          redis.call('ZADD', base .. ':dead', now, id)
        end

        """
    /// Reading the fields of a job hash, which anyone may have written (docs/redis.md, "Values a job
    /// may hold"): nothing read is trusted until checked, and a check never raises an error, because a
    /// script stopped by an error keeps the writes it made before it.
    /// - `int(text)`: the integer `text` holds (an optional minus, then decimal digits, at most 15 of
    ///   them once leading zeros are dropped: exact in Lua's numbers), or nil and what is wrong with it.
    /// - `shown(text)`: a value as a reason shows it: integers bare, anything else quoted, cut short.
    /// - `int_field(name, text, low, high, default)`: the integer in the field `name` within low…high, or
    ///   `default` when the field is missing or empty; without a default a missing field is itself the
    ///   problem. Returns the value, or nil and the reason: `unusable job: attempt = 2147483647 is out of
    ///   range` (the words of ``JobFieldLimits/unusableReason(field:value:problem:)``).
    /// - `known_states`: the states jobhost writes; anything else is an unusable job.
    /// - `limits`: ``JobFieldLimits``, the same ranges on every backend.
    static let fields = """
        -- Texts already read as integers by this call: the jobs of a batch mostly hold the same few
        -- values (attempt 0, one max_attempts, one timeout, enqueued in the same ms), and a table look-up
        -- costs a fraction of the pattern match and conversion.
        local ints = {}
        local function int(text)
          local n = ints[text]
          if n then return n end
          if type(text) ~= 'string' or not string.find(text, '^%-?%d+$') then return nil, 'is not an integer' end
          -- Leading zeros matter only to a text longer than the digits allowed.
          if #text > 15 and #string.gsub(text, '^%-?0*', '') > 15 then return nil, 'is out of range' end
          n = tonumber(text)
          ints[text] = n
          return n
        end

        local function shown(text)
          local cut = #text > 40 and string.sub(text, 1, 40) .. '...' or text
          if string.find(text, '^%-?%d+$') then return cut end
          return '"' .. cut .. '"'
        end

        local function int_field(name, text, low, high, default)
          if text == false or text == nil or text == '' then
            if default ~= nil then return default end
            return nil, 'job hash missing fields: ' .. name
          end
          local n, problem = int(text)
          if n and (n < low or n > high) then n, problem = nil, 'is out of range' end
          if n == nil then return nil, 'unusable job: ' .. name .. ' = ' .. shown(text) .. ' ' .. problem end
          return n
        end

        local known_states = {ready = true, running = true, scheduled = true, done = true, dead = true}
        local function unknown_state(state)
          return 'unusable job: state = ' .. shown(state) .. ' is not a known state'
        end

        local limits = {
          attempt = \(JobFieldLimits.storedAttempt.upperBound),
          max_attempts = \(JobFieldLimits.maxAttempts.upperBound),
          crashes = \(JobFieldLimits.crashes.upperBound),
          timeout_ms = \(JobFieldLimits.timeoutMilliseconds.upperBound),
          time_low = \(JobFieldLimits.timestampMilliseconds.lowerBound),
          time_high = \(JobFieldLimits.timestampMilliseconds.upperBound),
          -- lease_seq + 1 must stay exact (15 digits).
          lease_seq = 999999999999998,
          concurrency_limit = \(ConcurrencyLimit.maxLimit),
        }

        """

    /// `attempt_history(old, number, started, owner, outcome, signal, text, now)`: the job's attempt
    /// history, the `attempts` field of its hash (`old` is that field as read), with one run appended,
    /// for the caller to write with the other fields it sets: one JSON object per line (cjson escapes
    /// every newline inside a value), the last ``JobAttempt/limit`` lines kept. `number` is the attempt as read, `started` the claim time
    /// (`updated_at` while the job runs), `owner` its `lease_owner`; the error is cut to
    /// ``JobAttempt/errorLimit`` characters. A value an edit left unreadable is
    /// written as 0 (the start: `now`) rather than failing the script after earlier writes.
    static let attempts = """
        local function attempt_error(text)
          if #text <= \(JobAttempt.errorLimit) then return text end
          -- Characters, as PostgreSQL's left() and SQLite's substr() count them: every byte but a
          -- UTF-8 continuation byte starts one.
          local chars = 0
          for i = 1, #text do
            local byte = string.byte(text, i)
            if byte < 128 or byte >= 192 then
              chars = chars + 1
              if chars > \(JobAttempt.errorLimit) then return string.sub(text, 1, i - 1) end
            end
          end
          return text
        end

        local function attempt_history(old, number, started, owner, outcome, signal, text, now)
          local entry = {n = int(number) or 0, start = int(started) or now, ['end'] = now, outcome = outcome}
          if type(owner) == 'string' and owner ~= '' then entry.owner = owner end
          if signal and signal ~= '' then entry.signal = signal end
          if text and text ~= '' then entry.error = attempt_error(text) end
          local line = cjson.encode(entry)
          -- Most jobs run once: no history to read through.
          if type(old) ~= 'string' or old == '' then return line end
          local history = old .. '\\n' .. line
          local _, breaks = string.gsub(history, '\\n', '')
          for _ = \(JobAttempt.limit), breaks do history = string.sub(history, string.find(history, '\\n', 1, true) + 1) end
          return history
        end

        """

    /// `holds_lease(id, token)`: whether job `id` is running under exactly this lease token (a key that
    /// is no longer a hash holds none). Needs base.
    static let holdsLease = """
        local function holds_lease(id, token)
          local f = redis.pcall('HMGET', job_key(id), 'state', 'lease_seq')
          return not f.err and f[1] == 'running' and f[2] == token
        end

        """

    /// `add_count(field, n)`: adds n to a counter of the queue's `stats` hash. A counter an edit left
    /// holding something else than an integer starts again from n rather than failing the script
    /// (after the job writes before it). Needs base.
    static let addCount = """
        local function add_count(field, n)
          if n > 0 then
            local added = redis.pcall('HINCRBY', base .. ':stats', field, decimal(n))
            if type(added) == 'table' and added.err then redis.call('HSET', base .. ':stats', field, decimal(n)) end
          end
        end

        """
}
