import Backend
import RedisClient

/// The scripts behind schedule fires and an operator's schedule switches (see
/// ``RedisBackend`` as ``ScheduleStore``), under the conventions of ``RedisScripts``.
extension RedisScripts {
    /// Fires a schedule: records the fire and enqueues its job in one step. ARGV: queue, schedule
    /// name, fire time (ms), overlap (`allow` or `skip`), then the job's 10 arguments as in enqueue.
    /// Returns `{id}` when this call fired it, `{previous id, 'skipped'}` when it recorded the fire
    /// skipped, `{}` when the schedule already has this fire time or a later one.
    ///
    /// Guarantees: fire times per schedule only move forward, so however many hosts race to fire
    /// the same time (or a paused host wakes up with old ones) exactly one job is enqueued for it;
    /// a fire time ahead of Redis's clock is refused, so a host whose clock runs fast cannot fire early;
    /// a record of the last fire that is not `<ms> <id>` (an edit) counts as none rather than stopping
    /// the schedule for good; the fire is also pushed on `fire_history:<schedule>` (newest first,
    /// capped at ``ScheduleFire/kept``), in the same step;
    /// a schedule switched off (`schedule_switches`: `off <ms>`) fires nothing, and one switched on
    /// again (`on <ms>`) fires nothing due at or before that moment; with overlap `skip`, a fire whose
    /// previous run (the job of the last fire) is still ready, scheduled or running enqueues nothing:
    /// the fire time is recorded with that job's id (so the next fire asks about the same run) and
    /// pushed on the history as `<ms> <id> skipped`.
    static let claimFire = RedisScript(
        name: "claim_fire",
        source: Lua.base + Lua.now + Lua.bulk + Lua.wake + Lua.isLive + Lua.expectTypes + """
            expect_types({schedules = 'hash', schedule_switches = 'hash', unique = 'hash', scheduled = 'zset', ready = 'list',
              wake = 'list'})
            local queue, schedule, fire = ARGV[1], ARGV[2], tonumber(ARGV[3])
            if fire > now_ms() then
              return redis.error_reply('EARLY fire time ' .. ARGV[3] .. ' is ahead of the server clock')
            end
            -- A record an edit left unreadable counts as none: the fire overwrites it, and the
            -- schedule is not stuck behind it.
            local last = redis.call('HGET', base .. ':schedules', schedule)
            local last_fire = last and tonumber(string.match(last, '^(%d+) ') or '')
            if last_fire and last_fire >= fire then return {} end
            -- Switched off: nothing fires. Switched on again: what fell due while off stays unfired.
            local switch = redis.call('HGET', base .. ':schedule_switches', schedule)
            if switch then
              local state, since = string.match(switch, '^(%a+) (%d+)$')
              if state == 'off' or (state == 'on' and fire <= tonumber(since)) then return {} end
            end
            if ARGV[4] == 'skip' and last_fire then
              local previous = string.match(last, '^%d+ (.+)$')
              if previous and is_live(previous) then
                redis.call('HSET', base .. ':schedules', schedule, ARGV[3] .. ' ' .. previous)
                local history = base .. ':fire_history:' .. schedule
                redis.call('LPUSH', history, ARGV[3] .. ' ' .. previous .. ' skipped')
                redis.call('LTRIM', history, 0, \(ScheduleFire.kept - 1))
                return {previous, 'skipped'}
              end
            end
            local first_job = 5

            """ + Lua.enqueueJobs + """

            -- The job knows its schedule, so its run counts toward the schedule's streak; a live holder
            -- of the unique key returned instead was not fired by it.
            if added == 1 then redis.call('HSET', job_key(ids[1]), 'schedule', schedule) end
            redis.call('HSET', base .. ':schedules', schedule, ARGV[3] .. ' ' .. ids[1])
            local history = base .. ':fire_history:' .. schedule
            redis.call('LPUSH', history, ARGV[3] .. ' ' .. ids[1])
            redis.call('LTRIM', history, 0, \(ScheduleFire.kept - 1))
            return ids
            """)

    /// Switches a schedule off or on. ARGV: schedule name, 1 for off, 0 for on. Returns 1 if the
    /// state changed.
    ///
    /// Guarantees: `schedule_switches` maps the name to `off <ms>` or `on <ms>`, the time of the last
    /// change; switching to the state it has (on, for a schedule never switched) writes nothing.
    static let setScheduleSwitch = RedisScript(
        name: "set_schedule_switch",
        source: Lua.base + Lua.now + Lua.expectTypes + """
            expect_types({schedule_switches = 'hash'})
            local switches, schedule = base .. ':schedule_switches', ARGV[1]
            local wanted = ARGV[2] == '1' and 'off' or 'on'
            local current = redis.call('HGET', switches, schedule)
            local state = current and string.match(current, '^(%a+) ') or 'on'
            if state == wanted then return 0 end
            redis.call('HSET', switches, schedule, wanted .. ' ' .. now_ms())
            return 1
            """)
}
