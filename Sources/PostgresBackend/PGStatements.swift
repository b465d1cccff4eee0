import Backend
import PostgresClient

/// Every statement the backend runs, written out once for the schema. Conventions:
/// - Times are the database's: `now()`, the start of the statement's own transaction. Durations
///   arrive as whole microseconds (`$n::bigint * interval '1 microsecond'`); times leave as
///   microseconds since the epoch.
/// - Statements that change several rows lock them in id order (`ORDER BY id FOR UPDATE`), so two
///   batches that share jobs (a settle and an extend of the same host) wait for each other rather
///   than deadlock; the counters are touched after the jobs, in queue order.
/// - Jobs named by id are found by primary key only, and conditions on their state are checked after
///   the lock: a `state = 'running'` next to `id = ANY(…)` lets the planner AND in the partial index
///   of running jobs, which holds an entry for every claim since the last vacuum. Look-ups per item
///   are correlated subqueries, which a generic plan cannot turn into a scan of the table.
/// - Maintenance statements lock with `SKIP LOCKED`, so any number of hosts run them at once, each
///   taking rows the others are not.
/// - Wake-ups are `pg_notify` in the same statement, delivered only if it commits. A CTE that only
///   reads runs only when referenced, hence the `CROSS JOIN woken` that makes it run.
/// - Statements that may be planned generically (prepared, or run often) never join the jobs table
///   to a list of items: they look rows up by id (`= ANY(…)`) or through correlated subqueries, so no
///   plan can become a scan of the table.
struct PGStatements: Sendable {
    let enqueue: PGStatement
    let resolve: PGStatement
    let fetch: PGStatement
    let settle: PGStatement
    let extend: PGStatement
    let progress: String
    let rescue: String
    let reclaimRescue: String
    let reclaimRelease: String
    let prune: String
    let stats: String
    let listReady: String
    let listScheduled: String
    let listRunning: String
    let listFinished: String
    let job: String
    /// The columns every listing selects from `jobs AS j`, in the order ``PostgresBackend`` reads them.
    let infoColumns: String
    let retryDead: String
    let discardDead: String
    let untilDue: String
    let markWaiting: String
    let tryWakeLock: String
    let unmark: String
    let schemaVersion: String
    let claimFire: String
    let recordFire: String
    let liveRun: String
    let lastFire: String
    let recordFireHistory: String
    let recentFires: String
    let pause: String
    let isPaused: String
    let resume: String
    let setScheduleSwitch: String
    let scheduleSwitch: String
    let claimHost: String
    let refreshHost: String
    let releaseHost: String
    let hostRecords: String

    init(_ schema: PGSchema) {
        let jobs = schema.qualified("jobs")
        let counters = schema.qualified("queue_counters")
        let streaks = schema.qualified("run_streaks")
        let runAlerts = schema.qualified("run_alerts")
        let pauses = schema.qualified("queue_pauses")
        let waiters = schema.qualified("waiters")
        let channel = schema.channelLiteral
        // Times leave as microseconds, clamped to the range a job's times may have
        // (``JobFieldLimits/timestampMilliseconds``): a time an edit left outside it (`infinity`, the
        // year 200000) would overflow the bigint and fail the whole statement. NULL stays NULL.
        let low = "timestamptz '0001-01-01 00:00:00+00'"
        let high = "timestamptz '9999-12-31 23:59:59.999+00'"
        let micros = { (column: String) in
            "(extract(epoch FROM CASE WHEN \(column) < \(low) THEN \(low) WHEN \(column) > \(high) THEN \(high) ELSE \(column) END) * 1000000)::bigint"
        }
        // Why the job in row `j` cannot be leased — a value outside ``JobFieldLimits`` (the column
        // types and constraints refuse the rest) — or NULL. Checked in the statement that leases it, so
        // that no arithmetic on it (attempt + 1, a crash more, a time in microseconds) can fail the
        // statement and with it the whole queue.
        let unusable = { (j: String) in
            let out = { (column: String) in "'unusable job: \(column) = ' || \(j).\(column) || ' is out of range'" }
            return """
                CASE WHEN \(j).attempt NOT BETWEEN 0 AND \(JobFieldLimits.storedAttempt.upperBound) THEN \(out("attempt"))
                     WHEN \(j).max_attempts NOT BETWEEN 1 AND \(JobFieldLimits.maxAttempts.upperBound) THEN \(out("max_attempts"))
                     WHEN \(j).crashes NOT BETWEEN 0 AND \(JobFieldLimits.crashes.upperBound) THEN \(out("crashes"))
                     WHEN \(j).timeout_ms NOT BETWEEN 1 AND \(JobFieldLimits.timeoutMilliseconds.upperBound) THEN \(out("timeout_ms"))
                     WHEN \(j).run_at NOT BETWEEN \(low) AND \(high) THEN \(out("run_at"))
                     WHEN \(j).enqueued_at NOT BETWEEN \(low) AND \(high) THEN \(out("enqueued_at")) END
                """
        }
        // What every listing returns, in the order ``PostgresBackend/info`` reads: a scheduled job
        // whose time has come is ready, and changed state when it became due.
        infoColumns = """
            j.id, j.handler, CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN 'ready' ELSE j.state END,
                j.payload, j.attempt, j.max_attempts, \(micros("j.enqueued_at")), j.last_error,
                \(micros("CASE WHEN j.state = 'scheduled' AND j.run_at <= now() THEN j.run_at ELSE j.updated_at END")), j.origin,
                j.crashes, j.result, j.progress, j.note
            """

        // The attempt history of row `j` with one run appended, ending now: the entry's attempt, lease
        // owner and start (the claim set updated_at, and nothing changes it while the job runs) come
        // from the row as it was; the oldest runs beyond ``JobAttempt/limit`` are dropped. A history an
        // edit left as something else than an array starts again.
        let appendAttempt = { (j: String, outcome: String, signal: String, error: String) in
            """
            (SELECT CASE WHEN jsonb_array_length(h.a) > \(JobAttempt.limit)
                    THEN (SELECT jsonb_agg(x.e ORDER BY x.i) FROM jsonb_array_elements(h.a) WITH ORDINALITY AS x(e, i)
                          WHERE x.i > jsonb_array_length(h.a) - \(JobAttempt.limit))
                    ELSE h.a END
                FROM (SELECT CASE WHEN jsonb_typeof(\(j).attempts) = 'array' THEN \(j).attempts ELSE '[]'::jsonb END
                    || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                        'n', \(j).attempt, 'owner', \(j).lease_owner, 'start', \(micros("\(j).updated_at")) / 1000,
                        'end', \(micros("now()")) / 1000, 'outcome', \(outcome), 'signal', nullif(\(signal), ''),
                        'error', left(\(error), \(JobAttempt.errorLimit))))) AS a) AS h)
            """
        }

        // Whether the running jobs of row `c`'s concurrency key (as the statement's snapshot sees them)
        // leave room for one more: a job without room is not even locked by a claim or counted as due.
        let keyHasRoom = { (c: String) in
            """
            (SELECT count(*) FROM \(jobs) AS r
             WHERE r.queue = \(c).queue AND r.concurrency_key = \(c).concurrency_key AND r.state = 'running') < \(c).concurrency_limit
            """
        }

        // Parameters: ids, queues, handlers, payloads, max_attempts, delays (µs), timeouts (ms),
        // unique keys, origins, concurrency keys, concurrency limits; arrays in batch order. Returns the ids inserted; jobs whose id exists
        // or whose unique key is held are not. Hosts waiting on a queue (`waiters`, see markWaiting) are
        // woken once per queue; with none waiting nothing notifies, so concurrent enqueues share WAL
        // flushes (migration 13 says why). `wake_waiters` holds the queues' wake locks until commit
        // (migration 13).
        enqueue = PGStatement(name: "jobhost_enqueue", sql: """
            WITH inserted AS (
                INSERT INTO \(jobs) (id, queue, state, run_at, max_attempts, timeout_ms, handler, unique_key, origin, payload,
                    concurrency_key, concurrency_limit)
                SELECT i.id, i.queue, CASE WHEN i.delay > 0 THEN 'scheduled' ELSE 'ready' END, now() + i.delay * interval '1 microsecond',
                       i.max_attempts, i.timeout_ms, i.handler, i.unique_key, i.origin, i.payload::json, i.concurrency_key, i.concurrency_limit
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::bigint[], $7::integer[], $8::text[], $9::text[],
                        $10::text[], $11::integer[])
                    WITH ORDINALITY AS i(id, queue, handler, payload, max_attempts, delay, timeout_ms, unique_key, origin, concurrency_key,
                        concurrency_limit, n)
                ORDER BY i.n
                ON CONFLICT DO NOTHING
                RETURNING id, queue
            )
            SELECT x.id, (SELECT \(schema.qualified("wake_waiters"))(array_agg(y.queue)) FROM inserted AS y)
            FROM inserted AS x
            """)

        // Parameters: ids, queues, unique keys of jobs an enqueue did not insert. Returns (ordinal,
        // id) per job: the live holder of its key, else the job with its id, else NULL (the holder
        // finished meanwhile: enqueue again).
        resolve = PGStatement(name: "jobhost_resolve", sql: """
            SELECT t.n, coalesce(
                (SELECT j.id FROM \(jobs) AS j
                 WHERE t.unique_key IS NOT NULL AND j.queue = t.queue AND j.unique_key = t.unique_key
                   AND j.state IN ('ready', 'scheduled', 'running')),
                (SELECT j.id FROM \(jobs) AS j WHERE j.id = t.id))
            FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(id, queue, unique_key, n)
            """)

        let claimReturning = """
            RETURNING j.id, j.lease_token, j.handler, j.payload, j.attempt, j.max_attempts, j.enqueued_at, j.timeout_ms,
                j.last_error, j.run_at, j.seq, j.crashes, j.state
            """
        // Parameters: queue, limit, lease (µs), the lowest run time to look at (µs since the epoch;
        // NULL: from the head, see ``ClaimCursor``), the lease owner id (recorded with the token). `picked`
        // walks jobs_claim from there and says once per locked row why it cannot be run (`unusable`;
        // NULL: it can): the statement is planned at every call (its LIMIT is a parameter, so a
        // generic plan never looks cheaper), and that expression repeated in each SET column made
        // the planning cost as much as running it. ARRAY(…) makes the ids one value, so each UPDATE
        // finds its rows by primary key: `leased` the runnable ones, `buried` moves the others to dead
        // with the reason, in the same step. Returns the claimed jobs, each with the database's now, its crashes, whether
        // the queue is paused and its new state (running, or dead); one row of NULLs, now and the pause
        // when none. The pause is an uncorrelated subquery: the planner makes it a one-time filter, so
        // a paused queue's claim reads no job at all.
        //
        // A job with a concurrency key whose running jobs (as the statement's snapshot saw them) fill
        // its limit is not looked at: it waits, keeping its place and attempts, and the jobs behind it
        // are claimed. The others are locked, then each keyed one — in key order, so claims never wait
        // for each other's keys crosswise — asks `take_slot`, under the key's lock and with a fresh
        // count, whether it may run beside the running ones and those of its key before it in this
        // claim; one that may not stays locked until the statement ends, untouched. Jobs without a key
        // pay the `IS NULL` tests and a sort of the claimed ids.
        fetch = PGStatement(name: "jobhost_fetch", sql: """
            WITH pause AS (
                SELECT EXISTS (SELECT 1 FROM \(pauses) AS p WHERE p.queue = $1) AS paused
            ), picked AS MATERIALIZED (
                SELECT k.id, k.reason FROM (
                    SELECT l.id, l.concurrency_key, l.concurrency_limit, l.reason,
                        row_number() OVER (PARTITION BY l.concurrency_key ORDER BY l.run_at, l.seq) AS ahead
                    FROM (
                        SELECT c.id, c.concurrency_key, c.concurrency_limit, c.run_at, c.seq, \(unusable("c")) AS reason
                        FROM \(jobs) AS c
                        WHERE NOT (SELECT paused FROM pause)
                          AND c.queue = $1 AND c.state IN ('ready', 'scheduled') AND c.run_at <= now()
                          AND c.run_at >= coalesce(timestamptz 'epoch' + $4::bigint * interval '1 microsecond', '-infinity')
                          AND (c.concurrency_key IS NULL OR \(keyHasRoom("c")))
                        ORDER BY c.run_at, c.seq
                        LIMIT $2
                        FOR UPDATE SKIP LOCKED) AS l
                    ORDER BY l.concurrency_key NULLS FIRST, ahead) AS k
                WHERE CASE WHEN k.concurrency_key IS NULL THEN true
                    ELSE \(schema.qualified("take_slot"))($1, k.concurrency_key, k.concurrency_limit, k.ahead) END
            ), leased AS (
                UPDATE \(jobs) AS j
                SET state = 'running', attempt = j.attempt + 1, lease_token = gen_random_uuid(),
                    lease_until = now() + $3::bigint * interval '1 microsecond', lease_owner = $5::text, progress = NULL, note = NULL,
                    updated_at = now()
                WHERE j.id = ANY (ARRAY(SELECT p.id FROM picked AS p WHERE p.reason IS NULL))
                \(claimReturning)
            ), buried AS (
                UPDATE \(jobs) AS j
                SET state = 'dead', lease_token = NULL, lease_until = NULL,
                    last_error = (SELECT p.reason FROM picked AS p WHERE p.id = j.id), updated_at = now()
                WHERE j.id = ANY (ARRAY(SELECT p.id FROM picked AS p WHERE p.reason IS NOT NULL))
                \(claimReturning)
            ), claimed AS (
                SELECT * FROM leased UNION ALL SELECT * FROM buried
            )
            SELECT c.id, c.lease_token, c.handler, c.payload, c.attempt, c.max_attempts, \(micros("c.enqueued_at")),
                c.timeout_ms, c.last_error, \(micros("c.run_at")), c.seq, \(micros("now()")), c.crashes, p.paused, c.state
            FROM pause AS p LEFT JOIN claimed AS c ON true
            """)

        // Parameters: queues, ids, tokens, operations (done, retry, dead, release, crashed), µs
        // (retention for done, delay for retry and crashed; NULL for crashed: no retry), errors,
        // results (for done; NULL: none), the runs' outcomes for the attempt history, the signals that
        // crashed them ('' for none); arrays in batch order; then the retry position (front: a retry
        // without delay keeps its run time, its place in line; back: its run time becomes now, behind
        // every job ready before). Returns (ordinal, settled) per item. Per job only the first item
        // holding its current token wins. A crash becomes a retry (or a death, without a delay) that
        // also counts one crash, so the rest of the statement knows four operations only; a job whose
        // crashes is already at its limit goes dead instead, the reason naming the value.
        settle = PGStatement(name: "jobhost_settle", sql: """
            WITH item AS (
                SELECT t.queue, t.id, t.token, t.micros, t.error, t.result, t.n, t.op = 'crashed' AS crashed,
                    CASE WHEN t.op <> 'crashed' THEN t.op WHEN t.micros IS NULL THEN 'dead' ELSE 'retry' END AS op,
                    t.outcome, t.signal
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])
                    WITH ORDINALITY AS t(queue, id, token, op, micros, error, result, outcome, signal, n)
            ), held AS (
                SELECT j.id, j.queue, j.state, j.lease_token, j.crashes, j.handler, j.schedule FROM \(jobs) AS j
                WHERE j.id = ANY ($2::text[])
                ORDER BY j.id
                FOR UPDATE
            ), matched AS (
                SELECT DISTINCT ON (i.id) i.*, h.crashes AS old_crashes, h.handler, h.schedule FROM item AS i
                JOIN held AS h ON h.id = i.id AND h.queue = i.queue AND h.state = 'running' AND h.lease_token::text = i.token
                ORDER BY i.id, i.n
            ), won AS (
                -- A crash the job's crashes cannot count one more of makes it dead, saying why,
                -- rather than failing the statement and with it the whole batch.
                SELECT m.queue, m.id, m.token, m.micros, m.n, m.result, m.outcome, m.signal, m.handler, m.schedule,
                    m.crashed AND m.old_crashes BETWEEN 0 AND \(JobFieldLimits.crashes.upperBound) AS crashed,
                    CASE WHEN m.crashed AND m.old_crashes NOT BETWEEN 0 AND \(JobFieldLimits.crashes.upperBound) THEN 'dead' ELSE m.op END AS op,
                    CASE WHEN m.crashed AND m.old_crashes NOT BETWEEN 0 AND \(JobFieldLimits.crashes.upperBound)
                        THEN 'unusable job: crashes = ' || m.old_crashes || ' is out of range' ELSE m.error END AS error
                FROM matched AS m
            ), removed AS (
                DELETE FROM \(jobs) AS j USING won AS w
                WHERE j.id = w.id AND w.op = 'done' AND w.micros = 0
            ), moved AS (
                UPDATE \(jobs) AS j SET
                    state = CASE w.op
                        WHEN 'retry' THEN CASE WHEN w.micros > 0 THEN 'scheduled' ELSE 'ready' END
                        WHEN 'release' THEN 'ready'
                        ELSE w.op END,
                    run_at = CASE WHEN w.op = 'retry' AND w.micros > 0 THEN now() + w.micros * interval '1 microsecond'
                        WHEN w.op = 'retry' AND $10::text = 'back' THEN now() ELSE j.run_at END,
                    attempt = CASE WHEN w.op = 'release' THEN greatest(j.attempt - 1, 0) ELSE j.attempt END,
                    crashes = CASE WHEN w.crashed THEN j.crashes + 1 ELSE j.crashes END,
                    last_error = CASE WHEN w.op IN ('retry', 'dead') THEN w.error ELSE j.last_error END,
                    result = CASE WHEN w.op = 'done' THEN w.result ELSE j.result END,
                    attempts = \(appendAttempt("j", "w.outcome", "w.signal", "w.error")),
                    lease_token = NULL, lease_until = NULL, updated_at = now()
                FROM won AS w
                WHERE j.id = w.id AND NOT (w.op = 'done' AND w.micros = 0)
            ), counted AS (
                INSERT INTO \(counters) AS c (queue, shard, processed, failed)
                SELECT w.queue, pg_backend_pid() % 16, count(*) FILTER (WHERE w.op = 'done'), count(*) FILTER (WHERE w.op IN ('retry', 'dead'))
                FROM won AS w WHERE w.op <> 'release'
                GROUP BY w.queue ORDER BY w.queue
                ON CONFLICT (queue, shard) DO UPDATE SET processed = c.processed + excluded.processed, failed = c.failed + excluded.failed
            ), ended AS (
                -- A done job ends the streaks of its handler and schedule: nothing to find while the
                -- queue has none. A dead one is counted by the trigger jobs_failed_run (migration 10).
                DELETE FROM \(streaks) AS s
                USING (
                    SELECT DISTINCT w.queue, k.kind, k.name FROM won AS w
                    CROSS JOIN LATERAL (VALUES ('handler', w.handler), ('schedule', w.schedule)) AS k(kind, name)
                    WHERE w.op = 'done' AND k.name IS NOT NULL
                ) AS d
                WHERE s.queue = d.queue AND s.kind = d.kind AND s.name = d.name
                RETURNING s.queue, s.kind, s.name, s.failures
            ), recovered AS (
                INSERT INTO \(runAlerts) (queue, event, kind, name, failures)
                SELECT e.queue, 'ended', e.kind, e.name, e.failures FROM ended AS e
            ), woken AS (
                SELECT count(pg_notify(\(channel), q.queue)) AS notified
                FROM (SELECT DISTINCT w.queue FROM won AS w WHERE w.op IN ('retry', 'release')) AS q
            )
            SELECT i.n, w.n IS NOT NULL FROM item AS i LEFT JOIN won AS w ON w.n = i.n CROSS JOIN woken
            """)

        // Parameters: queues, ids, tokens (arrays), lease (µs). Returns (ordinal, held) per item.
        extend = PGStatement(name: "jobhost_extend", sql: """
            WITH item AS (
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(queue, id, token, n)
            ), held AS (
                SELECT j.id, j.queue, j.state, j.lease_token FROM \(jobs) AS j
                WHERE j.id = ANY ($2::text[])
                ORDER BY j.id
                FOR UPDATE
            ), matched AS (
                SELECT i.n, h.id FROM item AS i
                JOIN held AS h ON h.id = i.id AND h.queue = i.queue AND h.state = 'running' AND h.lease_token::text = i.token
            ), moved AS (
                UPDATE \(jobs) AS j SET lease_until = now() + $4::bigint * interval '1 microsecond'
                WHERE j.id = ANY (ARRAY(SELECT m.id FROM matched AS m))
            )
            SELECT i.n, m.n IS NOT NULL FROM item AS i LEFT JOIN matched AS m ON m.n = i.n
            """)

        // Parameters: queues, ids, tokens, progress values, notes (arrays). Returns the ids written: jobs
        // still running under those tokens. Not prepared: a custom plan looks each row up by id.
        progress = """
            UPDATE \(jobs) AS j SET progress = t.progress, note = t.note
            FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[]) AS t(queue, id, token, progress, note)
            WHERE j.id = t.id AND j.queue = t.queue AND j.state = 'running' AND j.lease_token::text = t.token
            RETURNING j.id
            """

        // How a lease ends when it expired, for the rows the CTE `expired` selected and locked (ids), of
        // queue $1: the job counts a failed attempt and is ready again (keeping its place in line) or,
        // its attempts used up, dead, last_error naming the lease either way. Shared by rescue (the
        // expired leases) and reclaim's rescue mode (the leases of a holder that is gone). Leaves the
        // CTEs `moved` (the jobs' new states), `counted` and `woken`. The attempt history gets a
        // `lease_lost` run, its error the same words as last_error (`leaseExpired`).
        let leaseExpired = """
            'lease expired ' || CASE WHEN j.attempt >= j.max_attempts THEN 'after' ELSE 'during' END
                        || ' attempt ' || j.attempt || ' of ' || j.max_attempts || ' (the host running it died or stalled)'
            """
        let endLeases = """
            moved AS (
                UPDATE \(jobs) AS j SET
                    state = CASE WHEN j.attempt >= j.max_attempts THEN 'dead' ELSE 'ready' END,
                    last_error = \(leaseExpired),
                    attempts = \(appendAttempt("j", "'lease_lost'", "''", leaseExpired)),
                    lease_token = NULL, lease_until = NULL, updated_at = now()
                WHERE j.id = ANY (ARRAY(SELECT e.id FROM expired AS e))
                RETURNING j.state
            ), counted AS (
                INSERT INTO \(counters) AS c (queue, shard, failed)
                SELECT $1, pg_backend_pid() % 16, count(*) FROM moved HAVING count(*) > 0
                ON CONFLICT (queue, shard) DO UPDATE SET failed = c.failed + excluded.failed
            ), woken AS (
                SELECT count(pg_notify(\(channel), $1)) AS notified FROM (SELECT 1 FROM moved WHERE state = 'ready' LIMIT 1) AS any_ready
            )
            """

        // Parameters: queue, limit. Returns (rescued, dead): expired leases put back or dead, and
        // pending jobs scheduled beyond any usable time moved to dead.
        rescue = """
            WITH expired AS (
                SELECT j.id FROM \(jobs) AS j
                WHERE j.queue = $1 AND j.state = 'running' AND j.lease_until <= now()
                ORDER BY j.lease_until
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ), \(endLeases), unreachable AS (
                -- Pending jobs whose run time lies beyond any usable time (an edit's `infinity`): no
                -- claim ever reaches them, so the queue's maintenance records them in dead. The
                -- claim's index finds them at the far end of the queue's range.
                SELECT j.id FROM \(jobs) AS j
                WHERE j.queue = $1 AND j.state IN ('ready', 'scheduled') AND j.run_at > \(high)
                ORDER BY j.run_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            ), buried AS (
                UPDATE \(jobs) AS j SET state = 'dead', last_error = 'unusable job: run_at = ' || j.run_at || ' is out of range',
                    updated_at = now()
                WHERE j.id = ANY (ARRAY(SELECT u.id FROM unreachable AS u))
                RETURNING 1
            )
            SELECT count(*) FILTER (WHERE m.state = 'ready'), count(*) FILTER (WHERE m.state = 'dead') + (SELECT count(*) FROM buried)
            FROM moved AS m RIGHT JOIN woken ON true
            """

        // The running jobs of queue $1 whose lease owner starts with $2 — or, when $3 is true, is
        // exactly $2 — locked in id order (as settle locks them: the two wait for each other rather
        // than deadlock). Not SKIP LOCKED: a row a settlement holds is waited for and then checked
        // again, so a job settled, rescued or fetched by another owner meanwhile drops out.
        // starts_with compares plain characters: no LIKE pattern, so `_` and `%` in an owner id are
        // themselves.
        let ownedBy = """
            SELECT j.id FROM \(jobs) AS j
                WHERE j.queue = $1 AND j.state = 'running'
                  AND CASE WHEN $3::boolean THEN j.lease_owner = $2::text ELSE starts_with(j.lease_owner, $2::text) END
                ORDER BY j.id
                FOR UPDATE
            """
        // Parameters: queue, owner, exact. Returns (ready, dead): the holder's leases end as expired
        // ones do (`endLeases`, as rescue).
        reclaimRescue = """
            WITH expired AS (
                \(ownedBy)
            ), \(endLeases)
            SELECT count(*) FILTER (WHERE m.state = 'ready'), count(*) FILTER (WHERE m.state = 'dead')
            FROM moved AS m RIGHT JOIN woken ON true
            """
        // Parameters: queue, owner, exact. Returns (ready, 0): the holder's jobs are released as
        // settle releases them (ready, keeping their place in line; the attempt given back; the unique
        // key kept; a `released` run in the attempt history), without their lease tokens.
        reclaimRelease = """
            WITH held AS (
                \(ownedBy)
            ), moved AS (
                UPDATE \(jobs) AS j SET state = 'ready', attempt = greatest(j.attempt - 1, 0),
                    attempts = \(appendAttempt("j", "'released'", "''", "NULL::text")),
                    lease_token = NULL, lease_until = NULL, updated_at = now()
                WHERE j.id = ANY (ARRAY(SELECT h.id FROM held AS h))
                RETURNING j.state
            ), woken AS (
                SELECT count(pg_notify(\(channel), $1)) AS notified FROM (SELECT 1 FROM moved LIMIT 1) AS any_ready
            )
            SELECT count(m.state), 0 FROM moved AS m RIGHT JOIN woken ON true
            """

        // Parameters: queue, retention (µs), limit. Returns the number deleted.
        prune = """
            WITH old AS (
                SELECT j.id FROM \(jobs) AS j
                WHERE j.queue = $1 AND j.state = 'done' AND j.updated_at < now() - $2::bigint * interval '1 microsecond'
                ORDER BY j.updated_at
                LIMIT $3
                FOR UPDATE SKIP LOCKED
            ), gone AS (
                DELETE FROM \(jobs) AS j WHERE j.id = ANY (ARRAY(SELECT o.id FROM old AS o)) RETURNING 1
            )
            SELECT count(*) FROM gone
            """

        // Parameter: queue. Each part reads through the partial index of its states.
        stats = """
            SELECT p.ready, r.running, p.scheduled, f.dead, f.done, k.processed, k.failed, p.oldest,
                EXISTS (SELECT 1 FROM \(pauses) AS q WHERE q.queue = $1)
            FROM (
                SELECT count(*) FILTER (WHERE j.run_at <= now()) AS ready, count(*) FILTER (WHERE j.run_at > now()) AS scheduled,
                       \(micros("now()")) - \(micros("min(greatest(j.run_at, j.updated_at)) FILTER (WHERE j.run_at <= now())")) AS oldest
                FROM \(jobs) AS j WHERE j.queue = $1 AND j.state IN ('ready', 'scheduled')
            ) AS p, (
                SELECT count(*) AS running FROM \(jobs) AS j WHERE j.queue = $1 AND j.state = 'running'
            ) AS r, (
                SELECT count(*) FILTER (WHERE j.state = 'dead') AS dead, count(*) FILTER (WHERE j.state = 'done') AS done
                FROM \(jobs) AS j WHERE j.queue = $1 AND j.state IN ('done', 'dead')
            ) AS f, (
                SELECT coalesce(sum(c.processed), 0) AS processed, coalesce(sum(c.failed), 0) AS failed
                FROM \(counters) AS c WHERE c.queue = $1
            ) AS k
            """

        // Parameters: queue, offset, limit (and the state, for finished jobs).
        listReady = """
            SELECT \(infoColumns) FROM \(jobs) AS j
            WHERE j.queue = $1 AND j.state IN ('ready', 'scheduled') AND j.run_at <= now()
            ORDER BY j.run_at DESC, j.seq DESC OFFSET $2 LIMIT $3
            """
        listScheduled = """
            SELECT \(infoColumns) FROM \(jobs) AS j
            WHERE j.queue = $1 AND j.state IN ('ready', 'scheduled') AND j.run_at > now()
            ORDER BY j.run_at DESC, j.seq DESC OFFSET $2 LIMIT $3
            """
        listRunning = """
            SELECT \(infoColumns) FROM \(jobs) AS j
            WHERE j.queue = $1 AND j.state = 'running'
            ORDER BY j.lease_until DESC, j.id DESC OFFSET $2 LIMIT $3
            """
        listFinished = """
            SELECT \(infoColumns) FROM \(jobs) AS j
            WHERE j.queue = $1 AND j.state IN ('done', 'dead') AND j.state = $4
            ORDER BY j.updated_at DESC, j.id DESC OFFSET $2 LIMIT $3
            """
        // The listing's columns, then the unique key and the attempt history.
        job = "SELECT \(infoColumns), j.unique_key, j.attempts FROM \(jobs) AS j WHERE j.queue = $1 AND j.id = $2"

        // Parameters: queue, id. A row back if the job was dead and is ready now.
        retryDead = """
            UPDATE \(jobs) AS j SET state = 'ready', attempt = 0, updated_at = now(),
                unique_key = CASE WHEN EXISTS (
                    SELECT 1 FROM \(jobs) AS o
                    WHERE o.queue = j.queue AND o.unique_key = j.unique_key AND o.state IN ('ready', 'scheduled', 'running')
                ) THEN NULL ELSE j.unique_key END
            WHERE j.queue = $1 AND j.id = $2 AND j.state = 'dead'
            RETURNING pg_notify(\(channel), j.queue)
            """
        discardDead = "DELETE FROM \(jobs) AS j WHERE j.queue = $1 AND j.id = $2 AND j.state = 'dead' RETURNING 1"

        // Parameters: queue, the lowest run time to look at (as for fetch). Returns milliseconds until
        // the first job in line that a fetch could take is due (≤ 0: due now; NULL if none), and
        // whether the queue is paused (its jobs are then no work: the first column is NULL). SKIP
        // LOCKED as in the claim: a due row someone else holds locked must not make an idle host
        // return at once, fetch nothing, and spin.
        untilDue = """
            WITH pause AS (
                SELECT EXISTS (SELECT 1 FROM \(pauses) AS p WHERE p.queue = $1) AS paused
            ), head AS (
                SELECT j.run_at FROM \(jobs) AS j
                WHERE NOT (SELECT paused FROM pause)
                  AND j.queue = $1 AND j.state IN ('ready', 'scheduled')
                  AND j.run_at >= coalesce(timestamptz 'epoch' + $2::bigint * interval '1 microsecond', '-infinity')
                  AND (j.concurrency_key IS NULL OR \(keyHasRoom("j")))
                ORDER BY j.run_at, j.seq LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            SELECT (SELECT ceil((\(micros("f.run_at")) - \(micros("now()"))) / 1000.0)::bigint FROM head AS f),
                (SELECT paused FROM pause)
            """

        // Parameters: queue, how long the caller will wait (ms). Marks this connection as waiting on
        // the queue (`waiters`, until the wait ends), which is what makes enqueues notify, and deletes
        // the marks of connections that died waiting a minute ago. Returns whether it also held the
        // queue's wake lock (migration 13) before the mark committed: then no enqueue that could have
        // read the marks without this one is still open, and a look that follows sees their jobs.
        // Otherwise the caller tries `tryWakeLock` until it succeeds, and only then looks.
        let wakeLock = "\(schema.wakeLockClass), hashtext($1)"
        markWaiting = """
            WITH marked AS (
                INSERT INTO \(waiters) AS w (queue, backend, until)
                VALUES ($1, pg_backend_pid(), now() + $2::bigint * interval '1 millisecond')
                ON CONFLICT (queue, backend) DO UPDATE SET until = excluded.until
            ), expired AS (
                DELETE FROM \(waiters) AS w
                WHERE w.queue = $1 AND w.until < now() - interval '1 minute' AND w.backend <> pg_backend_pid()
            )
            SELECT pg_try_advisory_xact_lock(\(wakeLock))
            """

        // Parameter: queue. Whether no enqueue of the queue holds its wake lock now (released at once).
        tryWakeLock = "SELECT pg_try_advisory_xact_lock(\(wakeLock))"

        // Parameter: queue. Ends this connection's mark (see markWaiting) once its wait is over.
        unmark = "DELETE FROM \(waiters) WHERE queue = $1 AND backend = pg_backend_pid()"

        schemaVersion = "SELECT coalesce(max(version), 0) FROM \(schema.qualified("schema_migrations"))"

        let fires = schema.qualified("schedule_fires")
        let switches = schema.qualified("schedule_switches")
        let fireTime = "timestamptz 'epoch' + $3::bigint * interval '1 microsecond'"
        // Parameters: queue, schedule, fire time (µs). Returns (not ahead of the clock, recorded now).
        // Inside the caller's transaction: the upsert's row lock holds other hosts firing the same
        // schedule until it ends; they then see this fire and record nothing. A schedule switched
        // off records nothing, nor one switched on again after the fire time.
        claimFire = """
            WITH claimed AS (
                INSERT INTO \(fires) AS f (queue, schedule, fire_time, job_id)
                SELECT $1, $2, \(fireTime), '' WHERE \(fireTime) <= now()
                  AND NOT EXISTS (
                    SELECT 1 FROM \(switches) AS w
                    WHERE w.queue = $1 AND w.schedule = $2 AND (w.disabled OR \(fireTime) <= w.changed_at))
                ON CONFLICT (queue, schedule) DO UPDATE SET fire_time = excluded.fire_time
                WHERE f.fire_time < excluded.fire_time
                RETURNING 1
            )
            SELECT \(fireTime) <= now(), EXISTS (SELECT 1 FROM claimed)
            """
        // Parameters: queue, schedule, job id.
        recordFire = "UPDATE \(fires) SET job_id = $3 WHERE queue = $1 AND schedule = $2"
        // Parameters: queue, schedule. In the claim's transaction, whose upsert holds the row: the job
        // of the fire before the one just claimed, if it is still ready, scheduled or running.
        liveRun = """
            SELECT f.job_id FROM \(fires) AS f
            WHERE f.queue = $1 AND f.schedule = $2
              AND EXISTS (SELECT 1 FROM \(jobs) AS j WHERE j.id = f.job_id AND j.queue = $1 AND j.state IN ('ready', 'scheduled', 'running'))
            """
        // Parameters: queue, schedule. Returns (fire time µs, job id).
        lastFire = "SELECT \(micros("fire_time")), job_id FROM \(fires) WHERE queue = $1 AND schedule = $2"
        let history = schema.qualified("schedule_fire_history")
        // Parameters: queue, schedule, job id, skipped. In the claim's transaction, after recordFire:
        // copies the fire just recorded and keeps the newest \(ScheduleFire.kept).
        recordFireHistory = """
            WITH added AS (
                INSERT INTO \(history) (queue, schedule, fire_time, job_id, skipped)
                SELECT queue, schedule, fire_time, $3, $4::boolean FROM \(fires) WHERE queue = $1 AND schedule = $2
                ON CONFLICT (queue, schedule, fire_time) DO UPDATE SET job_id = excluded.job_id, skipped = excluded.skipped
                RETURNING fire_time
            )
            DELETE FROM \(history) AS h
            WHERE h.queue = $1 AND h.schedule = $2 AND h.fire_time <= (
                SELECT o.fire_time FROM \(history) AS o WHERE o.queue = $1 AND o.schedule = $2
                ORDER BY o.fire_time DESC OFFSET \(ScheduleFire.kept - 1) LIMIT 1)
              AND h.fire_time < (SELECT fire_time FROM added)
            """
        // Parameters: queue, schedule, limit. Returns (fire time µs, job id, skipped), newest first.
        recentFires = """
            SELECT \(micros("fire_time")), job_id, skipped FROM \(history) WHERE queue = $1 AND schedule = $2
            ORDER BY fire_time DESC LIMIT $3::integer
            """

        // Parameter: queue. Pausing keeps the first pause's time.
        pause = "INSERT INTO \(pauses) (queue) VALUES ($1) ON CONFLICT (queue) DO NOTHING"
        isPaused = "SELECT EXISTS (SELECT 1 FROM \(pauses) WHERE queue = $1)"
        // Parameter: queue. Hosts waiting on the paused queue are woken (on the resume channel).
        resume = """
            WITH resumed AS (DELETE FROM \(pauses) AS p WHERE p.queue = $1 RETURNING p.queue)
            SELECT count(pg_notify('\(schema.resumeChannel)', r.queue)) FROM resumed AS r
            """
        // Parameters: queue, schedule, disabled. Writes only a change of state; "on" for a schedule
        // never switched writes nothing.
        setScheduleSwitch = """
            INSERT INTO \(switches) AS w (queue, schedule, disabled, changed_at)
            SELECT $1, $2, $3::boolean, now()
            WHERE $3::boolean OR EXISTS (SELECT 1 FROM \(switches) AS o WHERE o.queue = $1 AND o.schedule = $2)
            ON CONFLICT (queue, schedule) DO UPDATE SET disabled = excluded.disabled, changed_at = excluded.changed_at
            WHERE w.disabled <> excluded.disabled
            """
        // Parameters: queue, schedule. Returns (disabled, changed at µs), no row if never switched.
        scheduleSwitch = "SELECT disabled, \(micros("changed_at")) FROM \(switches) WHERE queue = $1 AND schedule = $2"

        let hosts = schema.qualified("hosts")
        // Parameters: name, instance, boot id, machine, pid, process start, stale after (µs), the
        // instance to replace ('' for none).
        // Returns one row: (claimed, then the previous record's instance, boot id, machine, pid,
        // process start, seen at µs; NULLs when there was none). One statement: `old` locks the
        // name's row (FOR UPDATE waits for a claim in flight and reads its outcome); the insert reads
        // `old` first, so the lock is taken before it writes; the upsert writes only when the name is
        // free, held by the same instance, seen `stale after` ago or longer (the database's clock), or
        // held by exactly the instance to replace; `started_at` is the claim's time unless the same
        // instance held the row. A row another claim inserted after this statement's snapshot is not in
        // `old`: the upsert still judges it, and a refusal then comes back with no previous record
        // (the caller asks again).
        claimHost = """
            WITH old AS (
                SELECT h.instance, h.boot_id, h.machine, h.pid, h.process_start, \(micros("h.seen_at")) AS seen_at
                FROM \(hosts) AS h WHERE h.name = $1
                FOR UPDATE
            ), claimed AS (
                INSERT INTO \(hosts) AS h (name, instance, boot_id, machine, pid, process_start, seen_at, started_at)
                SELECT $1, $2, $3, $4, $5::integer, $6::bigint, now(), now() FROM (SELECT count(*) FROM old) AS locked_first
                ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, boot_id = excluded.boot_id,
                    machine = excluded.machine, pid = excluded.pid, process_start = excluded.process_start, seen_at = now(),
                    started_at = CASE WHEN h.instance = excluded.instance THEN coalesce(h.started_at, now()) ELSE now() END
                WHERE h.instance = excluded.instance OR h.instance = $8 OR h.seen_at <= now() - $7::bigint * interval '1 microsecond'
                RETURNING 1
            )
            SELECT EXISTS (SELECT 1 FROM claimed), o.instance, o.boot_id, o.machine, o.pid, o.process_start, o.seen_at
            FROM (SELECT 1) AS one LEFT JOIN old AS o ON true
            """
        // Parameters: name, instance. A row back if that instance holds the name (now seen now).
        refreshHost = "UPDATE \(hosts) SET seen_at = now() WHERE name = $1 AND instance = $2 RETURNING 1"
        // Parameters: name, instance.
        releaseHost = "DELETE FROM \(hosts) WHERE name = $1 AND instance = $2"
        // Returns (name, instance, boot id, machine, pid, process start, seen at µs, started at µs or NULL).
        hostRecords = """
            SELECT name, instance, boot_id, machine, pid, process_start, \(micros("seen_at")), \(micros("started_at"))
            FROM \(hosts) ORDER BY name
            """
    }
}
