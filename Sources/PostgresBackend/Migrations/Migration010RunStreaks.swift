import Backend

extension Migration {
    /// Run streaks per handler and schedule, kept for every host (``RunStreakStore``): the schedule a
    /// job was fired by (`jobs.schedule`, set by the claim), the streaks (`run_streaks`), the outbox
    /// hosts take alerts from (`run_alerts`), and the trigger that counts a run ending dead wherever
    /// it ends so (settle, rescue, reclaim). A done job ends streaks in the settle statement itself
    /// (``PGStatements``), which finds nothing to delete while the queue has no streak.
    static let runStreaks = Migration(version: 10, name: "run_streaks") { schema in
        let s = schema.quoted
        return """
            -- The schedule whose fire enqueued the job; NULL for every other job. Nullable without a
            -- default: added in the catalog only, no row rewritten.
            ALTER TABLE \(s).jobs ADD COLUMN schedule text;

            -- Failed runs in a row, per queue and subject; a row exists only while its streak lasts.
            CREATE TABLE \(s).run_streaks (
                queue     text COLLATE "C" NOT NULL,
                kind      text COLLATE "C" NOT NULL,
                name      text COLLATE "C" NOT NULL,
                failures  integer NOT NULL,
                CONSTRAINT run_streaks_pkey PRIMARY KEY (queue, kind, name),
                CONSTRAINT run_streaks_kind_check CHECK (kind IN ('handler', 'schedule'))
            );

            -- What hosts alert on: one row per streak a run changed, written in the run's own
            -- transaction and deleted by the host that takes it (SKIP LOCKED: each row to one host).
            CREATE TABLE \(s).run_alerts (
                seq       bigint GENERATED ALWAYS AS IDENTITY,
                at        timestamptz NOT NULL DEFAULT now(),
                failures  integer NOT NULL,
                queue     text COLLATE "C" NOT NULL,
                event     text COLLATE "C" NOT NULL,
                kind      text COLLATE "C" NOT NULL,
                name      text COLLATE "C" NOT NULL,
                job_id    text COLLATE "C",
                handler   text,
                error     text,
                CONSTRAINT run_alerts_pkey PRIMARY KEY (seq),
                CONSTRAINT run_alerts_event_check CHECK (event IN ('failed', 'ended')),
                CONSTRAINT run_alerts_kind_check CHECK (kind IN ('handler', 'schedule'))
            );
            CREATE INDEX run_alerts_queue ON \(s).run_alerts (queue, seq);

            -- A run ended dead: one more failure for its handler and its schedule, and an outbox row
            -- for each. A transaction-scoped lock per queue orders the hosts doing this at once, so two
            -- batches killing jobs of the same two handlers cannot deadlock on their streak rows.
            CREATE FUNCTION \(s).count_failed_run() RETURNS trigger
            LANGUAGE plpgsql
            SET search_path = pg_catalog, pg_temp
            AS $function$
            DECLARE
                subject record;
                n integer;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtextextended('\(schema.name).run_streaks ' || NEW.queue, 0));
                FOR subject IN
                    SELECT v.kind, v.name FROM (VALUES ('handler', NEW.handler), ('schedule', NEW.schedule)) AS v(kind, name)
                    WHERE coalesce(v.name, '') <> ''
                LOOP
                    INSERT INTO \(s).run_streaks AS r (queue, kind, name, failures)
                    VALUES (NEW.queue, subject.kind, subject.name, 1)
                    ON CONFLICT (queue, kind, name) DO UPDATE SET failures = r.failures + 1
                    RETURNING r.failures INTO n;
                    INSERT INTO \(s).run_alerts (queue, event, kind, name, failures, job_id, handler, error)
                    VALUES (NEW.queue, 'failed', subject.kind, subject.name, n, NEW.id, NEW.handler,
                            left(NEW.last_error, \(JobAttempt.errorLimit)));
                END LOOP;
                RETURN NULL;
            END
            $function$;

            CREATE TRIGGER jobs_failed_run AFTER UPDATE OF state ON \(s).jobs
                FOR EACH ROW WHEN (OLD.state = 'running' AND NEW.state = 'dead')
                EXECUTE FUNCTION \(s).count_failed_run();
            REVOKE ALL ON FUNCTION \(s).count_failed_run() FROM PUBLIC;
            """
    }
}
