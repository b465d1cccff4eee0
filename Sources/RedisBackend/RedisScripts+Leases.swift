import RedisClient

/// The scripts behind owned leases (``RedisBackend`` as ``LeaseReclaimer``) and the host-name registry
/// (``RedisBackend`` as ``HostRegistry``), under the conventions of ``RedisScripts``.
extension RedisScripts {
    /// Takes back the running jobs of a holder that is gone. ARGV: owner (a prefix of owner ids, or
    /// one exact owner id), mode (`rescue` or `release`), exact (1: the owner id must equal it; 0: start
    /// with it). Returns `{ready, dead}`.
    ///
    /// Guarantees: only jobs whose lease is in `leases`, whose state is running and whose `lease_owner`
    /// starts with (or, exact, equals) the owner are touched — compared as plain bytes, no pattern —
    /// so a job settled, rescued or fetched again by another owner meanwhile is left alone; `rescue`
    /// ends those leases exactly as ``rescue`` ends expired ones (the same Lua: the attempt stays
    /// counted, a last attempt goes dead, `failed` counted); `release` does what settle's release does
    /// (ready at the front of the line, the attempt given back, the unique key kept), needing no lease
    /// token. Either way the job is no longer running, so the old holder's token is stale, and the run
    /// goes into the job's attempt history (`lease_lost` or `released`). All
    /// reads before the first write; one atomic step.
    static let reclaim = RedisScript(
        name: "reclaim",
        source: Lua.base + Lua.now + Lua.wake + Lua.bulk + Lua.freeUnique + Lua.bury + Lua.expectTypes + Lua.fields + Lua.addCount
            + Lua.attempts + Lua.runStreaks + Lua.slots + Lua.rescueLeases + Lua.release + """
            expect_types({leases = 'zset', stats = 'hash', dead = 'zset', ready = 'list', unique = 'hash', wake = 'list',
              run_streaks = 'hash', run_alerts = 'list'})
            local owner, mode, exact = ARGV[1], ARGV[2], ARGV[3] == '1'
            local now = now_ms()
            local taken, runs = {}, {}
            -- Earliest deadline first, as rescue takes them.
            for _, id in ipairs(redis.call('ZRANGE', base .. ':leases', 0, -1)) do
              -- pcall: a key that is not a hash holds no lease of this owner.
              local f = redis.pcall('HMGET', job_key(id), 'state', 'lease_owner', 'attempt', 'updated_at', 'attempts', 'concurrency_key')
              if not f.err and f[1] == 'running' and type(f[2]) == 'string' then
                local held
                if exact then held = f[2] == owner else held = string.sub(f[2], 1, #owner) == owner end
                if held then
                  taken[#taken + 1] = id
                  runs[#runs + 1] = f
                end
              end
            end
            if mode == 'rescue' then
              local rescued, dead = rescue_leases(taken, now)
              return {rescued, dead}
            end
            bulk('ZREM', base .. ':leases', taken)
            local freed = {}
            for i, id in ipairs(taken) do
              local f = runs[i]
              redis.call('HSET', job_key(id), 'attempts', attempt_history(f[5], f[3], f[4], f[2], 'released', '', '', now))
              release_job(id, f[3], now)
              local next_in_line = free_slot(id, f[6])
              if next_in_line then freed[#freed + 1] = next_in_line end
            end
            -- The released jobs keep the front: they held their places before the waiting ones.
            bulk('RPUSH', base .. ':ready', freed)
            bulk('RPUSH', base .. ':ready', taken)
            wake(#taken + #freed)
            return {#taken, 0}
            """)

    /// Claims a host name. KEYS[1]: the `hosts` hash. ARGV: name, the record as JSON (without
    /// `seenAt`), stale_ms, the instance to replace ("" for none). Returns `{claimed (1 or 0), the
    /// previous record's JSON or false}`.
    ///
    /// Guarantees: the record is written, with `seenAt` = Redis's clock in ms (and `startedAt` the
    /// same, unless the same instance had the record: it keeps its own), when the name has no
    /// record, or one of the same instance, or one seen stale_ms or longer ago, or one of exactly the
    /// instance to replace (compare and swap: a record another host wrote meanwhile stays); a
    /// record that is not readable JSON with an instance and a seenAt counts as stale. One atomic
    /// step, so of hosts claiming a free name at once exactly one gets it.
    static let claimHost = RedisScript(
        name: "claim_host",
        source: Lua.now + """
            local hosts, name = KEYS[1], ARGV[1]
            local record = cjson.decode(ARGV[2])
            local now = now_ms()
            local old = redis.call('HGET', hosts, name)
            local claimed = true
            local started = now
            if old then
              local ok, previous = pcall(cjson.decode, old)
              if ok and type(previous) == 'table' and type(previous.instance) == 'string' and type(previous.seenAt) == 'number'
                and previous.instance ~= record.instance and previous.instance ~= ARGV[4]
                and now - previous.seenAt < tonumber(ARGV[3]) then
                claimed = false
              end
              -- The same instance claiming again (a retried start) keeps the time it started.
              if ok and type(previous) == 'table' and previous.instance == record.instance and type(previous.startedAt) == 'number' then
                started = previous.startedAt
              end
            end
            if claimed then
              record.seenAt = now
              record.startedAt = started
              redis.call('HSET', hosts, name, cjson.encode(record))
            end
            return {claimed and 1 or 0, old or false}
            """)

    /// Marks a host name's record seen. KEYS[1]: the `hosts` hash. ARGV: name, instance. Returns 1 if
    /// that instance holds the name (its `seenAt` is now Redis's clock), 0 if not.
    static let refreshHost = RedisScript(
        name: "refresh_host",
        source: Lua.now + """
            local hosts, name = KEYS[1], ARGV[1]
            local old = redis.call('HGET', hosts, name)
            if not old then return 0 end
            local ok, record = pcall(cjson.decode, old)
            if not ok or type(record) ~= 'table' or record.instance ~= ARGV[2] then return 0 end
            record.seenAt = now_ms()
            redis.call('HSET', hosts, name, cjson.encode(record))
            return 1
            """)

    /// Removes a host name's record. KEYS[1]: the `hosts` hash. ARGV: name, instance. Returns 1 if that
    /// instance held the name and it is gone now, 0 if another instance holds it (left alone) or none.
    static let releaseHost = RedisScript(
        name: "release_host",
        source: """
            local hosts, name = KEYS[1], ARGV[1]
            local old = redis.call('HGET', hosts, name)
            if not old then return 0 end
            local ok, record = pcall(cjson.decode, old)
            if not ok or type(record) ~= 'table' or record.instance ~= ARGV[2] then return 0 end
            redis.call('HDEL', hosts, name)
            return 1
            """)
}
