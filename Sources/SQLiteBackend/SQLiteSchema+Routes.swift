extension SQLiteSchema {
    /// The routes hosts publish (`routes`), and `enqueue`, a view an application inserts into without a
    /// queue: its trigger takes the queue and attempts from the handler's route, refuses a handler with
    /// neither a route nor a queue, and inserts into `jobs`. Version 7: its number is only its place in
    /// ``migrations``.
    ///
    /// A view, not a trigger on `jobs`: a row inserted into `jobs` without a queue already holds the
    /// column's default, `default`, which cannot be told from a queue asked for, and a column default
    /// cannot be changed without rebuilding the table. RAISE takes only a literal here (SQLite before
    /// 3.47), so the refusal cannot name the handler; the application knows which it passed.
    static let routes = """
        CREATE TABLE routes (
            handler TEXT PRIMARY KEY,
            queue TEXT NOT NULL CONSTRAINT "queue must be a non-empty name" CHECK (queue <> ''),
            max_attempts INTEGER NOT NULL CONSTRAINT "max_attempts must be at least 1" CHECK (max_attempts >= 1),
            timeout_ms INTEGER NOT NULL,
            published_by TEXT NOT NULL,
            published_at INTEGER NOT NULL
        ) STRICT;
        CREATE VIEW enqueue (id, queue, handler, payload, run_at, max_attempts, timeout_ms, unique_key) AS
            SELECT id, queue, handler, payload, run_at, max_attempts, timeout_ms, unique_key FROM jobs WHERE 0;
        CREATE TRIGGER enqueue_insert INSTEAD OF INSERT ON enqueue
        BEGIN
            SELECT RAISE(ABORT, 'jobhost enqueue: no route for this handler and no queue given: pass queue, or run a host whose plugins provide the handler (host routes lists the published ones)')
            WHERE NEW.queue IS NULL AND NOT EXISTS (SELECT 1 FROM routes WHERE handler = NEW.handler);
            -- The route's attempts belong to its queue: a job sent elsewhere by hand gets the table's
            -- default. A live holder of the unique key means nothing is inserted, as in the
            -- documented ON CONFLICT DO NOTHING insert into jobs; a duplicate id still fails.
            INSERT INTO jobs (id, queue, handler, payload, run_at, max_attempts, timeout_ms, unique_key)
            SELECT coalesce(NEW.id, \(newJobID)), chosen.queue, NEW.handler, NEW.payload, coalesce(NEW.run_at, \(nowMicros)),
                coalesce(NEW.max_attempts, CASE WHEN chosen.queue = route.queue THEN route.max_attempts ELSE 10 END),
                NEW.timeout_ms, NEW.unique_key
            FROM (SELECT coalesce(NEW.queue, (SELECT queue FROM routes WHERE handler = NEW.handler)) AS queue) AS chosen
            LEFT JOIN routes AS route ON route.handler = NEW.handler
            WHERE true
            ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL AND state IN ('ready', 'scheduled', 'running') DO NOTHING;
        END;
        """
}
