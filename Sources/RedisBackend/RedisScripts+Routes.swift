import Backend
import RedisClient

/// Published routes: the `<prefix>:routes` hash, and the `jobhost` function library that enqueues by
/// it (docs/redis.md).
extension RedisScripts {
    /// Writes routes. KEYS[1]: the `routes` hash. ARGV: the publishing host's name, the routes as a JSON
    /// array (``RouteRows``). Each handler's field becomes `{"queue", "max_attempts", "timeout_ms",
    /// "published_by", "published_at"}`, the time from Redis's clock. Returns how many were written.
    static let publishRoutes = RedisScript(
        name: "publish_routes",
        source: Lua.now + """
            local routes, host = KEYS[1], ARGV[1]
            local rows = cjson.decode(ARGV[2])
            local now = now_ms()
            local fields = {}
            for _, row in ipairs(rows) do
              fields[#fields + 1] = row.handler
              fields[#fields + 1] = cjson.encode({queue = row.queue, max_attempts = row.max_attempts, timeout_ms = row.timeout_ms,
                published_by = host, published_at = now})
            end
            if #fields > 0 then redis.call('HSET', routes, unpack(fields)) end
            return #rows
            """)

    /// The function library `jobhost`, loaded by every host when it publishes its routes (`FUNCTION LOAD
    /// REPLACE`, Redis 7 or later). Its one function, for producers in any language:
    ///
    ///     FCALL jobhost_enqueue 1 <prefix>:routes <handler> <payload> [queue Q] [max_attempts N]
    ///           [delay_ms D] [unique_key K] [timeout_ms T] [concurrency_key K [concurrency_limit N]]
    ///
    /// enqueues as the `enqueue` script does and returns the job's id (a unique key's live holder's id,
    /// then). Without `queue` the handler's published route gives the queue, and its attempts unless
    /// `max_attempts` is given (a job sent to another queue by hand gets 10); a handler without a route
    /// is refused, naming it. The prefix comes from the key, so installations with different prefixes
    /// share one library. Queue keys are reached from inside the function, undeclared: one Redis
    /// server only, not Cluster (there a producer reads the route with HGET and enqueues itself).
    static let functionLibrary: String = {
        let body = Lua.base + Lua.now + Lua.bulk + Lua.wake + Lua.isLive + Lua.expectTypes + """
            expect_types({unique = 'hash', scheduled = 'zset', ready = 'list', wake = 'list'})
            ARGV[2] = new_id(now_ms())
            local queue = ARGV[1]
            local first_job = 2

            """ + Lua.enqueueJobs + """

            return ids[1]
            """
        return """
            #!lua name=jobhost

            local alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
            -- An id of the form jobhost makes: 10 characters of Crockford base32 for the millisecond,
            -- 16 random ones (Redis 7 seeds math.random afresh, and replicates a function's effects).
            local function new_id(ms)
              local chars = {}
              for i = 10, 1, -1 do
                local digit = ms % 32
                chars[i] = alphabet:sub(digit + 1, digit + 1)
                ms = math.floor(ms / 32)
              end
              for i = 11, 26 do
                local digit = math.random(0, 31)
                chars[i] = alphabet:sub(digit + 1, digit + 1)
              end
              return table.concat(chars)
            end

            local function refuse(message)
              return redis.error_reply('ERR jobhost_enqueue: ' .. message)
            end

            local function whole(name, text, low)
              local n = tonumber(text)
              if not n or n ~= math.floor(n) or n < low or n > 2147483647 then
                return nil, name .. ' must be a whole number from ' .. low .. ' to 2147483647, not ' .. tostring(text)
              end
              return string.format('%d', n)
            end

            local known_options = {queue = true, max_attempts = true, delay_ms = true, unique_key = true, timeout_ms = true,
              concurrency_key = true, concurrency_limit = true}

            local function enqueue(keys, args)
              local prefix = keys[1] and string.match(keys[1], '^(.+):routes$')
              if not prefix or #keys ~= 1 then
                return refuse('pass one key, the routes hash <prefix>:routes (jobhost:routes by default)')
              end
              local handler, payload = args[1], args[2]
              if not handler or handler == '' then return refuse('handler must be a non-empty name') end
              if not payload then return refuse('pass a payload (JSON text) after the handler') end
              if not pcall(cjson.decode, payload) then return refuse('payload of ' .. handler .. ' is not JSON') end
              local options = {}
              for i = 3, #args, 2 do
                if not known_options[args[i]] then
                  return refuse('unknown option ' .. tostring(args[i])
                    .. ' (queue, max_attempts, delay_ms, unique_key, timeout_ms, concurrency_key, concurrency_limit)')
                end
                if args[i + 1] == nil then return refuse('option ' .. args[i] .. ' needs a value') end
                options[args[i]] = args[i + 1]
              end
              local route = false
              local raw = redis.call('HGET', keys[1], handler)
              if raw then
                local ok, decoded = pcall(cjson.decode, raw)
                if ok and type(decoded) == 'table' and type(decoded.queue) == 'string' then route = decoded end
              end
              local queue = options.queue
              if not queue then
                if not route then
                  return refuse('no route for handler "' .. handler .. '": no host has published one (in ' .. keys[1]
                    .. '), and no queue was given; pass queue Q, or run a host whose plugins provide it (host routes lists them)')
                end
                queue = route.queue
              end
              if queue == '' or queue:find('[{}]') then return refuse('queue must be a non-empty name without { or }') end
              local attempts, delay, timeout, problem
              if options.max_attempts then
                attempts, problem = whole('max_attempts', options.max_attempts, 1)
              elseif route and route.queue == queue then
                attempts, problem = whole('the route\\'s max_attempts', route.max_attempts, 1)
              else
                attempts = '10'
              end
              if not problem then delay, problem = whole('delay_ms', options.delay_ms or '0', 0) end
              if not problem then timeout, problem = whole('timeout_ms', options.timeout_ms or '0', 0) end
              local slot_key, slot_limit = options.concurrency_key or '', ''
              if not problem and slot_key ~= '' then
                slot_limit, problem = whole('concurrency_limit', options.concurrency_limit or '1', 1)
                if not problem and tonumber(slot_limit) > \(ConcurrencyLimit.maxLimit) then
                  problem = 'concurrency_limit must be at most \(ConcurrencyLimit.maxLimit), not ' .. slot_limit
                end
              elseif not problem and options.concurrency_limit then
                problem = 'concurrency_limit needs a concurrency_key'
              end
              if problem then return refuse(problem) end
              local KEYS = {'{' .. prefix .. ':' .. queue .. '}'}
              local ARGV = {queue, '', handler, payload, attempts, delay, timeout, options.unique_key or '', '', slot_key, slot_limit}

            \(body)
            end

            redis.register_function('jobhost_enqueue', enqueue)
            """
    }()
}
