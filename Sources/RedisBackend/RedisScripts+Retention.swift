import RedisClient

/// The script behind dead-job retention (``RedisBackend/pruneDead(queue:retention:limit:)``), under the
/// conventions of ``RedisScripts``.
extension RedisScripts {
    /// Deletes dead jobs. ARGV: retention_ms, limit. Returns how many job hashes went.
    ///
    /// Guarantees: only members of the dead set recorded (died) strictly before now − retention go,
    /// oldest first; a member whose hash is dead goes with its hash (attempt history included) and the
    /// unique key, if it still holds it; a member whose hash is gone or in another state (retried
    /// meanwhile: a stale member) loses only the member; a member whose key is not a hash (recorded by
    /// a fetch) loses the member, and the key is left as it is, since jobhost did not write it. Reads
    /// every member before the first write.
    static let pruneDead = RedisScript(
        name: "prune_dead",
        source: Lua.base + Lua.now + Lua.bulk + Lua.freeUnique + Lua.expectTypes + """
            expect_types({dead = 'zset', unique = 'hash'})
            local dead = base .. ':dead'
            local ids = redis.call('ZRANGEBYSCORE', dead, '-inf', '(' .. (now_ms() - tonumber(ARGV[1])), 'LIMIT', 0, tonumber(ARGV[2]))
            local gone = {}
            for _, id in ipairs(ids) do
              local f = redis.pcall('HMGET', job_key(id), 'state', 'unique_key')
              if not f.err and f[1] == 'dead' then gone[#gone + 1] = {id, f[2]} end
            end
            for _, item in ipairs(gone) do
              free_unique(item[1], item[2])
              redis.call('DEL', job_key(item[1]))
            end
            bulk('ZREM', dead, ids)
            return #gone
            """)
}
