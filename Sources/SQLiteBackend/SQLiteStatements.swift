import Backend

/// Every statement the backend runs. Conventions:
/// - Times are µs since the epoch, passed in as `:now` from the machine's clock (every process using
///   the file runs on one machine, so they share that clock). Durations arrive in µs too.
/// - Writes run inside `BEGIN IMMEDIATE` transactions: SQLite has one writer at a time, so a claim
///   never meets a row another claim is taking, and needs no row locks.
/// - Conditions on `state` repeat the partial index's own term (`state IN ('done', 'dead') AND state =
///   …`): SQLite uses a partial index only when the query's WHERE contains the index's condition.
enum SQLiteStatements {
    static let low = JobFieldLimits.timestampMilliseconds.lowerBound * 1000
    static let high = JobFieldLimits.timestampMilliseconds.upperBound * 1000 + 999

    /// Why the job cannot be leased — a value outside ``JobFieldLimits`` — or NULL. Checked in the
    /// statement that leases it, so no arithmetic on it (attempt + 1, a crash more, a deadline) can
    /// fail the statement and with it the whole queue. The column types (STRICT) refuse the rest.
    static let unusable: String = {
        let out = { (column: String) in "'unusable job: \(column) = ' || \(column) || ' is out of range'" }
        return """
            CASE WHEN attempt NOT BETWEEN 0 AND \(JobFieldLimits.storedAttempt.upperBound) THEN \(out("attempt"))
                 WHEN max_attempts NOT BETWEEN 1 AND \(JobFieldLimits.maxAttempts.upperBound) THEN \(out("max_attempts"))
                 WHEN crashes NOT BETWEEN 0 AND \(JobFieldLimits.crashes.upperBound) THEN \(out("crashes"))
                 WHEN timeout_ms NOT BETWEEN 1 AND \(JobFieldLimits.timeoutMilliseconds.upperBound) THEN \(out("timeout_ms"))
                 WHEN run_at NOT BETWEEN \(low) AND \(high) THEN \(out("run_at"))
                 WHEN enqueued_at NOT BETWEEN \(low) AND \(high) THEN \(out("enqueued_at")) END
            """
    }()

    // Parameters: id, queue, handler, payload, state, run_at, now, max_attempts, timeout_ms, unique
    // key, origin, concurrency key, concurrency limit. Changes no row when the id exists or the unique
    // key is held by a live job.
    static let insert = """
        INSERT INTO jobs (id, queue, handler, payload, state, run_at, enqueued_at, updated_at, max_attempts, timeout_ms, unique_key, origin,
            concurrency_key, concurrency_limit)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
        ON CONFLICT DO NOTHING
        """
    // Parameters: queue, unique key.
    static let keyHolder = """
        SELECT id FROM jobs WHERE queue = ?1 AND unique_key = ?2 AND unique_key IS NOT NULL AND state IN ('ready', 'scheduled', 'running')
        """
    // Parameter: id.
    static let jobWithID = "SELECT id FROM jobs WHERE id = ?1"

    static let isPaused = "SELECT EXISTS (SELECT 1 FROM queue_pauses WHERE queue = ?1)"

    /// Whether the due job in row `c` may run now under its concurrency key (`?1` is the queue, `now`
    /// the parameter holding now): its key's running jobs and the due ones before it in line leave it a place. So a claim
    /// passes over a job whose key is full — it waits, its attempts untouched — and takes the jobs
    /// behind it; a lease that ends needs no bookkeeping, the job leaves the running state. One
    /// writer at a time: no other claim can count the same places. A job without a key pays the
    /// `IS NULL` test.
    static func mayRun(_ c: String, now: String = "?3") -> String {
        """
        (\(c).concurrency_key IS NULL OR
            (SELECT count(*) FROM jobs AS r WHERE r.queue = ?1 AND r.concurrency_key = \(c).concurrency_key AND r.state = 'running')
            + (SELECT count(*) FROM jobs AS a WHERE a.queue = ?1 AND a.concurrency_key = \(c).concurrency_key
                AND a.state IN ('ready', 'scheduled') AND a.run_at <= \(now) AND (a.run_at, a.seq) < (\(c).run_at, \(c).seq))
            < \(c).concurrency_limit)
        """
    }

    // Parameters: queue, limit, now, lease (µs), owner. Leases up to `limit` due jobs, oldest run time
    // first (then enqueue order), or moves an unusable one to dead saying why; passes over jobs whose
    // concurrency key is full (``mayRun(_:)``). RETURNING has no order.
    static let claim = """
        UPDATE jobs SET
            state = CASE WHEN (\(unusable)) IS NULL THEN 'running' ELSE 'dead' END,
            attempt = CASE WHEN (\(unusable)) IS NULL THEN attempt + 1 ELSE attempt END,
            lease_token = CASE WHEN (\(unusable)) IS NULL THEN lower(hex(randomblob(12))) END,
            lease_until = CASE WHEN (\(unusable)) IS NULL THEN ?3 + ?4 END,
            lease_owner = CASE WHEN (\(unusable)) IS NULL THEN ?5 ELSE lease_owner END,
            progress = CASE WHEN (\(unusable)) IS NULL THEN NULL ELSE progress END,
            note = CASE WHEN (\(unusable)) IS NULL THEN NULL ELSE note END,
            last_error = coalesce((\(unusable)), last_error),
            updated_at = ?3
        WHERE seq IN (
            SELECT c.seq FROM jobs AS c
            WHERE c.queue = ?1 AND c.state IN ('ready', 'scheduled') AND c.run_at <= ?3 AND \(mayRun("c"))
            ORDER BY c.run_at, c.seq
            LIMIT ?2)
        RETURNING id, lease_token, handler, payload, attempt, max_attempts, enqueued_at, timeout_ms, last_error, run_at, seq, crashes, state
        """

    // Parameters: queue, now. Returns µs until the first pending job is due (≤ 0: due now; NULL: none)
    // and whether the queue is paused. A due job whose concurrency key is full is no work: the lease
    // that frees its place wakes the host.
    static let untilDue = """
        SELECT (SELECT min(c.run_at) FROM jobs AS c WHERE c.queue = ?1 AND c.state IN ('ready', 'scheduled')
                AND (c.run_at > ?2 OR \(mayRun("c", now: "?2")))) - ?2,
            EXISTS (SELECT 1 FROM queue_pauses WHERE queue = ?1)
        """

    // Parameters: id, queue, token. The job's crashes and concurrency key if it runs under exactly this
    // lease.
    static let held = "SELECT crashes, concurrency_key FROM jobs WHERE id = ?1 AND queue = ?2 AND state = 'running' AND lease_token = ?3"
    // Parameter: id.
    static let deleteJob = "DELETE FROM jobs WHERE id = ?1"
    /// `attempts` with one run appended, ending at `now` (SQL expressions, like `outcome`, `signal` and
    /// `error`): the entry's attempt, lease owner and start (the claim set updated_at, and nothing
    /// changes it while the job runs) come from the row as it was; the oldest runs beyond
    /// ``JobAttempt/limit`` are dropped. A history an edit left unreadable starts again.
    static func appendAttempt(outcome: String, signal: String, error: String, now: String) -> String {
        let history = """
            json_insert(CASE WHEN json_valid(attempts) AND json_type(attempts) = 'array' THEN attempts ELSE '[]' END, '$[#]',
                json_object('n', attempt, 'owner', lease_owner, 'start', updated_at / 1000, 'end', \(now) / 1000, 'outcome', \(outcome),
                    'signal', \(signal), 'error', substr(\(error), 1, \(JobAttempt.errorLimit))))
            """
        // No derived tables: SQLite's subqueries in FROM cannot see the row being updated.
        return """
            CASE WHEN json_array_length(\(history)) <= \(JobAttempt.limit) THEN \(history)
            ELSE (SELECT json_group_array(json(value)) FROM json_each(\(history))
                  WHERE key >= json_array_length(\(history)) - \(JobAttempt.limit)) END
            """
    }

    // Parameters: id, state, run_at (NULL: keep), attempt given back (0 or 1), crashes added, error
    // (NULL: keep), now, result, the run's outcome for the attempt history (NULL: none), the signal
    // that crashed it, its error. Ends the lease.
    static let finish = """
        UPDATE jobs SET state = ?2, run_at = coalesce(?3, run_at), attempt = max(attempt - ?4, 0), crashes = crashes + ?5,
            last_error = coalesce(?6, last_error), lease_token = NULL, lease_until = NULL, updated_at = ?7, result = ?8,
            attempts = CASE WHEN ?9 IS NULL THEN attempts ELSE \(appendAttempt(outcome: "?9", signal: "?10", error: "?11", now: "?7")) END
        WHERE id = ?1
        """
    // Parameters: queue, processed, failed.
    static let count = """
        INSERT INTO queue_counters (queue, processed, failed) VALUES (?1, ?2, ?3)
        ON CONFLICT (queue) DO UPDATE SET processed = processed + excluded.processed, failed = failed + excluded.failed
        """
    // Parameters: id, queue, token, progress, note.
    static let progress = "UPDATE jobs SET progress = ?4, note = ?5 WHERE id = ?1 AND queue = ?2 AND state = 'running' AND lease_token = ?3"
    // Parameters: id, queue, token, new deadline.
    static let extend = "UPDATE jobs SET lease_until = ?4 WHERE id = ?1 AND queue = ?2 AND state = 'running' AND lease_token = ?3"

    /// How a lease ends when its holder is gone (expired, or reclaimed in rescue mode): the attempt
    /// counts as failed; the job is ready again, keeping its place in line, or dead with its attempts
    /// used up; last_error names the lease either way, and the attempt history gets a `lease_lost` run.
    /// `now` is the parameter holding now; `seq IN (…)` picks the jobs.
    static func endLeases(of jobs: String, now: String) -> String {
        let reason = """
            'lease expired ' || CASE WHEN attempt >= max_attempts THEN 'after' ELSE 'during' END
                || ' attempt ' || attempt || ' of ' || max_attempts || ' (the host running it died or stalled)'
            """
        return """
        UPDATE jobs SET
            state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'ready' END,
            last_error = \(reason),
            attempts = \(appendAttempt(outcome: "'lease_lost'", signal: "NULL", error: reason, now: now)),
            lease_token = NULL, lease_until = NULL, updated_at = \(now)
        WHERE seq IN (\(jobs))
        RETURNING state
        """
    }

    // Parameters: queue, limit, now.
    static let rescue = endLeases(of: """
        SELECT seq FROM jobs WHERE queue = ?1 AND state = 'running' AND (lease_until IS NULL OR lease_until <= ?3)
        ORDER BY lease_until LIMIT ?2
        """, now: "?3")
    // Parameters: queue, limit, now. Pending jobs whose run time lies beyond any usable time: no claim
    // ever reaches them, so the queue's maintenance records them in dead.
    static let bury = """
        UPDATE jobs SET state = 'dead', last_error = 'unusable job: run_at = ' || run_at || ' is out of range', updated_at = ?3
        WHERE seq IN (
            SELECT seq FROM jobs WHERE queue = ?1 AND state IN ('ready', 'scheduled') AND run_at > \(high) ORDER BY run_at LIMIT ?2)
        """

    /// The running jobs of queue `?1` whose lease owner starts with `?2`, compared as plain text (no
    /// LIKE pattern: `_` and `%` in an owner id are themselves).
    static let ownedBy = """
        SELECT seq FROM jobs WHERE queue = ?1 AND state = 'running' AND substr(lease_owner, 1, length(?2)) = ?2
        """
    // Parameters: queue, owner prefix, now.
    static let reclaimRescue = endLeases(of: ownedBy, now: "?3")
    // Parameters: queue, owner prefix, now. Released as settle releases: ready, keeping the place in
    // line, the attempt given back, a `released` run in the attempt history.
    static let reclaimRelease = """
        UPDATE jobs SET state = 'ready', attempt = max(attempt - 1, 0), lease_token = NULL, lease_until = NULL, updated_at = ?3,
            attempts = \(appendAttempt(outcome: "'released'", signal: "NULL", error: "NULL", now: "?3"))
        WHERE seq IN (\(ownedBy))
        """

    // Parameters: queue, oldest finish time kept, limit.
    static let prune = """
        DELETE FROM jobs WHERE seq IN (
            SELECT seq FROM jobs WHERE queue = ?1 AND state IN ('done', 'dead') AND state = 'done' AND updated_at < ?2
            ORDER BY updated_at LIMIT ?3)
        """

    // Parameters: queue, now. Scheduled jobs already due count as ready.
    static let stats = """
        SELECT
            (SELECT count(*) FROM jobs WHERE queue = ?1 AND state IN ('ready', 'scheduled') AND run_at <= ?2),
            (SELECT count(*) FROM jobs WHERE queue = ?1 AND state = 'running'),
            (SELECT count(*) FROM jobs WHERE queue = ?1 AND state IN ('ready', 'scheduled') AND run_at > ?2),
            (SELECT count(*) FROM jobs WHERE queue = ?1 AND state IN ('done', 'dead') AND state = 'dead'),
            (SELECT count(*) FROM jobs WHERE queue = ?1 AND state IN ('done', 'dead') AND state = 'done'),
            coalesce((SELECT processed FROM queue_counters WHERE queue = ?1), 0),
            coalesce((SELECT failed FROM queue_counters WHERE queue = ?1), 0),
            ?2 - (SELECT min(max(run_at, updated_at)) FROM jobs WHERE queue = ?1 AND state IN ('ready', 'scheduled') AND run_at <= ?2),
            EXISTS (SELECT 1 FROM queue_pauses WHERE queue = ?1)
        """

    /// What every listing returns, in the order ``SQLiteBackend`` reads it (`?4` is now): a pending job
    /// is ready once due, and changed state when it became due.
    static let infoColumns = """
        id, handler, CASE WHEN state IN ('ready', 'scheduled') THEN CASE WHEN run_at <= ?4 THEN 'ready' ELSE 'scheduled' END ELSE state END,
            payload, attempt, max_attempts, enqueued_at, last_error,
            CASE WHEN state = 'scheduled' AND run_at <= ?4 THEN run_at ELSE updated_at END, origin, crashes, result, progress, note
        """
    // Parameters: queue, offset, limit, now; and the state for finished jobs.
    static let listReady = """
        SELECT \(infoColumns) FROM jobs WHERE queue = ?1 AND state IN ('ready', 'scheduled') AND run_at <= ?4
        ORDER BY run_at DESC, seq DESC LIMIT ?3 OFFSET ?2
        """
    static let listScheduled = """
        SELECT \(infoColumns) FROM jobs WHERE queue = ?1 AND state IN ('ready', 'scheduled') AND run_at > ?4
        ORDER BY run_at DESC, seq DESC LIMIT ?3 OFFSET ?2
        """
    static let listRunning = """
        SELECT \(infoColumns) FROM jobs WHERE queue = ?1 AND state = 'running'
        ORDER BY lease_until DESC, id DESC LIMIT ?3 OFFSET ?2
        """
    static let listFinished = """
        SELECT \(infoColumns) FROM jobs WHERE queue = ?1 AND state IN ('done', 'dead') AND state = ?5
        ORDER BY updated_at DESC, id DESC LIMIT ?3 OFFSET ?2
        """
    // Parameters: queue, id, (unused), now. The listing's columns, then the unique key and the attempt
    // history.
    static let job = "SELECT \(infoColumns), unique_key, attempts FROM jobs WHERE queue = ?1 AND id = ?2"

    // Parameters: queue, id, now. Back to ready with fresh attempts, keeping its place in line; its
    // unique key only if no live job holds that key meanwhile.
    static let retryDead = """
        UPDATE jobs SET state = 'ready', attempt = 0, updated_at = ?3,
            unique_key = CASE WHEN EXISTS (
                SELECT 1 FROM jobs AS o
                WHERE o.queue = jobs.queue AND o.unique_key = jobs.unique_key AND o.state IN ('ready', 'scheduled', 'running')
            ) THEN NULL ELSE unique_key END
        WHERE queue = ?1 AND id = ?2 AND state = 'dead'
        """
    static let discardDead = "DELETE FROM jobs WHERE queue = ?1 AND id = ?2 AND state = 'dead'"

    // Parameters: queue, now. Pausing keeps the first pause's time.
    static let pause = "INSERT INTO queue_pauses (queue, paused_at) VALUES (?1, ?2) ON CONFLICT (queue) DO NOTHING"
    static let resume = "DELETE FROM queue_pauses WHERE queue = ?1"

    // Parameters: queue, schedule.
    static let scheduleSwitch = "SELECT disabled, changed_at FROM schedule_switches WHERE queue = ?1 AND schedule = ?2"
    // Parameters: queue, schedule, fire time. Changes a row only for a fire later than the one recorded.
    static let claimFire = """
        INSERT INTO schedule_fires (queue, schedule, fire_time, job_id) VALUES (?1, ?2, ?3, '')
        ON CONFLICT (queue, schedule) DO UPDATE SET fire_time = excluded.fire_time WHERE schedule_fires.fire_time < excluded.fire_time
        """
    // Parameters: queue, schedule, job id.
    static let recordFire = "UPDATE schedule_fires SET job_id = ?3 WHERE queue = ?1 AND schedule = ?2"
    static let lastFire = "SELECT fire_time, job_id FROM schedule_fires WHERE queue = ?1 AND schedule = ?2"
    // Parameters: queue, schedule, fire time, job id, skipped (0 or 1). Then trimFireHistory keeps the
    // newest.
    static let recordFireHistory = """
        INSERT INTO schedule_fire_history (queue, schedule, fire_time, job_id, skipped) VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT (queue, schedule, fire_time) DO UPDATE SET job_id = excluded.job_id, skipped = excluded.skipped
        """
    // Parameters: queue, schedule. The job of the last fire recorded, if it is still ready, scheduled
    // or running.
    static let liveRun = """
        SELECT f.job_id FROM schedule_fires AS f WHERE f.queue = ?1 AND f.schedule = ?2
            AND EXISTS (SELECT 1 FROM jobs AS j WHERE j.id = f.job_id AND j.queue = ?1 AND j.state IN ('ready', 'scheduled', 'running'))
        """
    // Parameters: queue, schedule.
    static let trimFireHistory = """
        DELETE FROM schedule_fire_history WHERE queue = ?1 AND schedule = ?2 AND fire_time <= (
            SELECT fire_time FROM schedule_fire_history WHERE queue = ?1 AND schedule = ?2
            ORDER BY fire_time DESC LIMIT 1 OFFSET \(ScheduleFire.kept))
        """
    // Parameters: queue, schedule, limit. Newest first.
    static let recentFires = """
        SELECT fire_time, job_id, skipped FROM schedule_fire_history WHERE queue = ?1 AND schedule = ?2 ORDER BY fire_time DESC LIMIT ?3
        """
    // Parameters: queue, schedule, disabled (0 or 1), now.
    static let setScheduleSwitch = """
        INSERT INTO schedule_switches (queue, schedule, disabled, changed_at) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (queue, schedule) DO UPDATE SET disabled = excluded.disabled, changed_at = excluded.changed_at
        WHERE schedule_switches.disabled <> excluded.disabled
        """

    // Parameter: name.
    static let hostRecord = "SELECT instance, boot_id, machine, pid, process_start, seen_at, started_at FROM hosts WHERE name = ?1"
    // Parameters: name, instance, boot id, machine, pid, process start, now. The same instance keeps
    // the time it started.
    static let writeHost = """
        INSERT INTO hosts (name, instance, boot_id, machine, pid, process_start, seen_at, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
        ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, boot_id = excluded.boot_id, machine = excluded.machine,
            pid = excluded.pid, process_start = excluded.process_start, seen_at = excluded.seen_at,
            started_at = CASE WHEN hosts.instance = excluded.instance THEN coalesce(hosts.started_at, excluded.started_at)
                ELSE excluded.started_at END
        """
    static let hostRecords = "SELECT name, instance, boot_id, machine, pid, process_start, seen_at, started_at FROM hosts ORDER BY name"
    // Parameters: name, instance, now.
    static let refreshHost = "UPDATE hosts SET seen_at = ?3 WHERE name = ?1 AND instance = ?2"
    static let releaseHost = "DELETE FROM hosts WHERE name = ?1 AND instance = ?2"
    // Parameters: this machine's boot id, its name, the oldest time a live host was seen. A host of
    // another machine seen lately: the file is shared across machines.
    static let foreignHost = """
        SELECT name, machine FROM hosts WHERE boot_id <> ?1 AND machine <> ?2 AND seen_at >= ?3 LIMIT 1
        """
}
