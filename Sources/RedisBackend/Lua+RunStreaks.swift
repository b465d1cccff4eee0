extension Lua {
    /// Run streaks and the run-alert outbox (``RunStreakStore``): `run_streaks`, a hash of
    /// `handler:<name>` and `schedule:<name>` to failed runs in a row, and `run_alerts`, a list of JSON
    /// entries pushed on the left and taken from the right. Needs base and attempts (`attempt_error`).
    ///
    /// - `streaks_exist()`: whether the queue has any streak: one cheap call a settle makes once, so a
    ///   done job of a queue without streaks reads and writes nothing more.
    /// - `run_failed(id, handler, schedule, text, now)`: a run ended dead; grows its streaks and pushes
    ///   one `failed` entry per streak. A missing handler or schedule (false or '') has no streak.
    /// - `run_succeeded(handler, schedule, now)`: a run ended done; ends its streaks, pushing one
    ///   `ended` entry per streak that existed.
    static let runStreaks = """
        local function streaks_exist()
          return redis.call('EXISTS', base .. ':run_streaks') == 1
        end

        local function push_run_alert(entry)
          redis.call('LPUSH', base .. ':run_alerts', cjson.encode(entry))
        end

        local function run_failed(id, handler, schedule, text, now)
          local streaks = base .. ':run_streaks'
          local function grow(kind, name)
            local field = kind .. ':' .. name
            -- A count an edit left unreadable starts again at 1 rather than failing the script.
            local n = redis.pcall('HINCRBY', streaks, field, 1)
            if type(n) ~= 'number' then
              n = 1
              redis.call('HSET', streaks, field, 1)
            end
            local entry = {event = 'failed', kind = kind, name = name, failures = n, job = id, at = now}
            if type(handler) == 'string' then entry.handler = handler end
            if type(text) == 'string' and text ~= '' then entry.error = attempt_error(text) end
            push_run_alert(entry)
          end
          if type(handler) == 'string' and handler ~= '' then grow('handler', handler) end
          if type(schedule) == 'string' and schedule ~= '' then grow('schedule', schedule) end
        end

        local function run_succeeded(handler, schedule, now)
          local streaks = base .. ':run_streaks'
          local function finish(kind, name)
            local field = kind .. ':' .. name
            local n = redis.call('HGET', streaks, field)
            if n then
              redis.call('HDEL', streaks, field)
              push_run_alert({event = 'ended', kind = kind, name = name, failures = tonumber(n) or 0, at = now})
            end
          end
          if type(handler) == 'string' and handler ~= '' then finish('handler', handler) end
          if type(schedule) == 'string' and schedule ~= '' then finish('schedule', schedule) end
        end

        """
}
