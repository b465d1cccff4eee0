import RedisClient

/// The scripts behind cancelling, bulk-discarding and searching jobs (``RedisBackend`` as
/// ``JobBackend``), under the conventions of ``RedisScripts``.
extension RedisScripts {
    /// Cancels one job. ARGV: id. Returns `cancelled`, `missing` (no hash, or a key that is not one),
    /// or the state the job is in otherwise (`running`, `done`, `dead`, or one jobhost does not know).
    ///
    /// Guarantees: only a job whose state is ready or scheduled (or absent, as a plain producer may
    /// leave it) goes; its hash, every place its id has in `ready`, `scheduled` and its concurrency
    /// key's waiting list, and its unique key
    /// (if it holds it) go together in one atomic step. A running job is never touched.
    static let cancel = RedisScript(
        name: "cancel",
        source: Lua.base + Lua.freeUnique + Lua.expectTypes + """
            expect_types({ready = 'list', scheduled = 'zset', unique = 'hash'})
            local id = ARGV[1]
            local key = job_key(id)
            local f = redis.pcall('HMGET', key, 'state', 'unique_key', 'concurrency_key')
            if f.err then return 'missing' end
            local state = f[1]
            if not state then
              if redis.call('EXISTS', key) == 0 then return 'missing' end
              state = 'ready'
            end
            if state ~= 'ready' and state ~= 'scheduled' then return state end
            -- Every place, in case a producer pushed the id twice: one left behind would be met by a
            -- fetch as a job whose hash is gone, and recorded in dead.
            redis.call('LREM', base .. ':ready', 0, id)
            redis.call('ZREM', base .. ':scheduled', id)
            if f[3] and f[3] ~= '' then
              -- Waiting for a place under its concurrency key.
              redis.call('LREM', base .. ':waiting:' .. f[3], 0, id)
              redis.call('ZREM', base .. ':waiting', id)
            end
            free_unique(id, f[2])
            redis.call('DEL', key)
            return 'cancelled'
            """)

    /// Discards pending jobs, one window at a time. ARGV: state (`ready` or `scheduled`), offset,
    /// window, older_than_ms ("" for any age), handler ("" for any). Returns `{discarded, next offset,
    /// more (1 or 0)}`.
    ///
    /// Looks at the `window` ids from `offset` on — of `ready` from its left end (the last to join
    /// first), of `scheduled` from the latest due — and discards those whose hash is in exactly that
    /// state, of that handler, enqueued at least older_than_ms ago by Redis's clock: hash, list or set
    /// entry and unique key together. Running jobs are never touched. Windows run from the end that
    /// the queue's own traffic does not shift away (enqueues push on the left of `ready`, fetches pop
    /// on its right; promotions take the earliest due from `scheduled`), so a job that was there
    /// all along is not skipped; one that moved may be looked at twice, which discards nothing twice.
    static let discardPending = RedisScript(
        name: "discard_pending",
        source: Lua.base + Lua.now + Lua.freeUnique + Lua.expectTypes + Lua.fields + """
            expect_types({ready = 'list', scheduled = 'zset', unique = 'hash'})
            local state, offset, window, handler = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[5]
            local cutoff = ARGV[4] ~= '' and now_ms() - tonumber(ARGV[4]) or nil
            local ready, scheduled = base .. ':ready', base .. ':scheduled'
            local ids
            if state == 'ready' then
              ids = redis.call('LRANGE', ready, offset, offset + window - 1)
            else
              ids = redis.call('ZREVRANGE', scheduled, offset, offset + window - 1)
            end
            local picked, seen, positions = {}, {}, {}
            for i, id in ipairs(ids) do
              if seen[id] then
                -- A duplicate of a picked id (a producer pushed it twice): it goes with the job.
                if seen[id] == 'picked' then positions[#positions + 1] = i end
              else
                seen[id] = 'seen'
                local f = redis.pcall('HMGET', job_key(id), 'state', 'handler', 'enqueued_at', 'unique_key')
                -- A plain producer may leave the state out: such a job is ready.
                local current = not f.err and (f[1] or (f[2] and 'ready'))
                if current == state and (handler == '' or f[2] == handler) then
                  local enqueued = int(f[3])
                  if not cutoff or (enqueued and enqueued <= cutoff) then
                    seen[id] = 'picked'
                    picked[#picked + 1] = {id = id, unique = f[4]}
                    positions[#positions + 1] = i
                  end
                end
              end
            end
            if state == 'ready' then
              -- A list has no removal by position: the picked places are marked with a value no job id
              -- can be (ids are never empty and this one starts with a NUL byte), then removed in one
              -- pass that stops after the last of them.
              local mark = '\\0discarded'
              for _, i in ipairs(positions) do redis.call('LSET', ready, offset + i - 1, mark) end
              if #positions > 0 then redis.call('LREM', ready, #positions, mark) end
            else
              for _, item in ipairs(picked) do redis.call('ZREM', scheduled, item.id) end
            end
            for _, item in ipairs(picked) do
              free_unique(item.id, item.unique)
              redis.call('DEL', job_key(item.id))
            end
            return {#picked, offset + #ids - #positions, #ids == window and 1 or 0}
            """)

    /// Searches one of the queue's lists or sets. ARGV: set (`ready`, `waiting`, `scheduled`, `leases`, `done` or
    /// `dead`), offset, count, text. Returns `{size of the set, matches}`, matches flat, 2 per job: id,
    /// enqueued_at. Read-only.
    ///
    /// Looks at the `count` ids from `offset` on, newest first as ``list`` orders them; a job matches
    /// when its id or handler equals the text, or its payload contains it (plain bytes, no pattern).
    static let search = RedisScript(
        name: "search",
        source: Lua.base + """
            local set, first, count, text = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
            local key = base .. ':' .. set
            local ids, size
            if set == 'ready' then
              ids = redis.call('LRANGE', key, first, first + count - 1)
              size = redis.call('LLEN', key)
            else
              ids = redis.call('ZREVRANGE', key, first, first + count - 1)
              size = redis.call('ZCARD', key)
            end
            local out = {}
            for _, id in ipairs(ids) do
              local f = redis.pcall('HMGET', job_key(id), 'handler', 'payload', 'enqueued_at')
              if not f.err and (id == text or f[1] == text or (f[2] and string.find(f[2], text, 1, true))) then
                out[#out + 1] = id
                out[#out + 1] = f[3] or '0'
              end
            end
            return {size, out}
            """)
}
