import Backend

extension SQLiteSchema {
    /// Version 5: run streaks per handler and schedule (``RunStreakStore``): the schedule a job was
    /// fired by (`jobs.schedule`, set by the claim), the streaks, the outbox hosts take alerts from,
    /// and the triggers that keep them in the transaction that ends a run — whatever statement ends
    /// it (settle, rescue, reclaim), so no path of the backend can forget one. A done job's triggers
    /// look no further than one index probe while its queue has no streak. Its number is only its
    /// place in ``migrations``.
    static let runStreaks: String = {
        let subjects = "((kind = 'handler' AND name = OLD.handler) OR (kind = 'schedule' AND name = OLD.schedule))"
        let ended = """
                INSERT INTO run_alerts (queue, event, kind, name, failures, at)
                SELECT queue, 'ended', kind, name, failures, \(nowMicros) FROM run_streaks
                WHERE queue = OLD.queue AND \(subjects);
                DELETE FROM run_streaks WHERE queue = OLD.queue AND \(subjects);
            """
        return """
            ALTER TABLE jobs ADD COLUMN schedule TEXT;
            CREATE TABLE run_streaks (
                queue TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('handler', 'schedule')),
                name TEXT NOT NULL,
                failures INTEGER NOT NULL,
                PRIMARY KEY (queue, kind, name)
            ) STRICT;
            CREATE TABLE run_alerts (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                queue TEXT NOT NULL,
                event TEXT NOT NULL CHECK (event IN ('failed', 'ended')),
                kind TEXT NOT NULL CHECK (kind IN ('handler', 'schedule')),
                name TEXT NOT NULL,
                failures INTEGER NOT NULL,
                job_id TEXT,
                handler TEXT,
                error TEXT,
                at INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX run_alerts_queue ON run_alerts (queue, seq);
            CREATE TRIGGER jobs_failed_run AFTER UPDATE OF state ON jobs
            WHEN OLD.state = 'running' AND NEW.state = 'dead'
            BEGIN
                INSERT INTO run_streaks (queue, kind, name, failures)
                SELECT NEW.queue, 'handler', NEW.handler, 1 WHERE true
                ON CONFLICT (queue, kind, name) DO UPDATE SET failures = failures + 1;
                INSERT INTO run_streaks (queue, kind, name, failures)
                SELECT NEW.queue, 'schedule', NEW.schedule, 1 WHERE coalesce(NEW.schedule, '') <> ''
                ON CONFLICT (queue, kind, name) DO UPDATE SET failures = failures + 1;
                INSERT INTO run_alerts (queue, event, kind, name, failures, job_id, handler, error, at)
                SELECT NEW.queue, 'failed', kind, name, failures, NEW.id, NEW.handler,
                    substr(NEW.last_error, 1, \(JobAttempt.errorLimit)), \(nowMicros)
                FROM run_streaks
                WHERE queue = NEW.queue
                  AND ((kind = 'handler' AND name = NEW.handler) OR (kind = 'schedule' AND name = NEW.schedule))
                ORDER BY kind;
            END;
            CREATE TRIGGER jobs_done_run AFTER UPDATE OF state ON jobs
            WHEN OLD.state = 'running' AND NEW.state = 'done' AND EXISTS (SELECT 1 FROM run_streaks WHERE queue = OLD.queue)
            BEGIN
            \(ended)
            END;
            -- A job done with no retention is deleted while running.
            CREATE TRIGGER jobs_done_run_deleted AFTER DELETE ON jobs
            WHEN OLD.state = 'running' AND EXISTS (SELECT 1 FROM run_streaks WHERE queue = OLD.queue)
            BEGIN
            \(ended)
            END;
            """
    }()
}
