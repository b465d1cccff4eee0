import Backend

extension Migration {
    /// Hosts waiting for work mark themselves in `waiters`, and `enqueue()` wakes them (NOTIFY) only
    /// while such a mark exists. A transaction that notifies takes a database-wide lock before it
    /// commits and holds it through its commit's WAL flush, so notifying transactions commit one at a
    /// time, each waiting for the previous one's flush: with a durable server, producers calling
    /// `enqueue()` at once got one flush each instead of sharing one. While hosts are busy (no mark),
    /// an enqueue takes no such lock.
    ///
    /// A host marks itself before it looks for jobs, and an enqueue reads the marks after its insert;
    /// in snapshots alone, an enqueue that read no mark but committed after the host's look would be
    /// neither seen nor notified. So enqueues hold a shared advisory lock on their queue (the wake lock)
    /// from before they read the marks until they commit, and a host looks only once it has held that
    /// lock exclusively after its mark committed: by then every enqueue that could have missed the mark
    /// has committed (the look sees its job), and every later one reads the mark. A host only ever
    /// tries the lock, never waits for it, so a slow application transaction delays no other producer.
    /// Builds on `enqueue` as version 12 left it.
    static let waiters = Migration(version: 13, name: "waiters") { schema in
        let s = schema.quoted
        return """
            -- One row per waiting connection of a host (its backend pid), written and deleted only by
            -- that connection; `until` ends the mark of a host that died waiting, and such rows are
            -- deleted by the next host that marks the queue. Unlogged: marks are gone after a crash,
            -- like the connections that wrote them, and writing one flushes no WAL. Producers only
            -- read it, so no application transaction ever holds a lock a host waits for.
            CREATE UNLOGGED TABLE \(s).waiters (
                queue    text COLLATE "C" NOT NULL,
                backend  integer NOT NULL,
                until    timestamptz NOT NULL,
                CONSTRAINT waiters_pkey PRIMARY KEY (queue, backend)
            );
            COMMENT ON TABLE \(s).waiters IS
                'jobhost hosts waiting for work, read by \(schema.name).enqueue() to decide whether to NOTIFY; written only by jobhost';

            -- Wakes the hosts waiting on any of the queues once this transaction commits: jobhost's own
            -- enqueue, one statement for a batch, calls it after its insert. VOLATILE, so
            -- the read of the marks takes a snapshot of its own, after the lock: a host that marked
            -- itself before that read is notified at commit. The locks are taken in key order, so
            -- enqueues of several queues cannot deadlock through a host's exclusive try. Invoker's
            -- rights: it reads nothing its caller could not read, so it needs no fixed search_path
            -- (every name in it is qualified or built in).
            CREATE FUNCTION \(s).wake_waiters(queues text[]) RETURNS integer
            LANGUAGE plpgsql VOLATILE
            AS $function$
            DECLARE
                queue_name text;
                woken integer := 0;
            BEGIN
                FOR queue_name IN
                    SELECT q.name FROM (SELECT DISTINCT u.q AS name FROM unnest(queues) AS u(q)) AS q ORDER BY hashtext(q.name), q.name
                LOOP
                    PERFORM pg_advisory_xact_lock_shared(\(schema.wakeLockClass), hashtext(queue_name));
                END LOOP;
                FOR queue_name IN
                    SELECT DISTINCT u.q FROM unnest(queues) AS u(q)
                    WHERE EXISTS (SELECT 1 FROM \(s).waiters AS w WHERE w.queue = u.q AND w.until > now())
                LOOP
                    PERFORM pg_notify(\(schema.channelLiteral), queue_name);
                    woken := woken + 1;
                END LOOP;
                RETURN woken;
            END
            $function$;
            COMMENT ON FUNCTION \(s).wake_waiters(text[]) IS
                'jobhost: notifies the hosts waiting on the queues at commit; called by jobhost''s enqueue';

            -- The same signature, so existing GRANTs and callers stay as they are; version 12's function
            -- but for the NOTIFY, now sent only while a host waits on the queue, under the wake lock.
            -- Enqueues one job from SQL, inside the caller's transaction: the job exists if and only
            -- if that transaction commits, and idle hosts are woken (NOTIFY) only then. Returns the
            -- job's id; with a unique_key held by a pending or running job of the queue, that job's id,
            -- adding nothing. With a concurrency_key, at most concurrency_limit jobs of the queue with
            -- that key run at once. SECURITY DEFINER: an application role needs only USAGE on the
            -- schema and EXECUTE on this function, not rights on the tables.
            CREATE OR REPLACE FUNCTION \(s).enqueue(
                handler text,
                payload jsonb,
                queue text DEFAULT NULL,
                run_at timestamptz DEFAULT now(),
                max_attempts integer DEFAULT NULL,
                unique_key text DEFAULT NULL,
                timeout_ms integer DEFAULT NULL,
                concurrency_key text DEFAULT NULL,
                concurrency_limit integer DEFAULT 1
            ) RETURNS text
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
            AS $function$
            #variable_conflict use_column
            DECLARE
                wanted_key constant text := nullif(enqueue.unique_key, '');
                limit_key constant text := nullif(enqueue.concurrency_key, '');
                due constant timestamptz := coalesce(enqueue.run_at, now());
                route_queue text;
                route_attempts integer;
                chosen_queue text := enqueue.queue;
                chosen_attempts integer := enqueue.max_attempts;
                new_id text;
                holder text;
            BEGIN
                IF coalesce(enqueue.handler, '') = '' THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: handler must be a non-empty name' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.queue = '' THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: queue must be a non-empty name' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.payload IS NULL THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: payload must not be NULL (use ''null''::jsonb for a JSON null)' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.max_attempts < 1 THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: max_attempts must be at least 1, not %', enqueue.max_attempts USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF NOT (due BETWEEN timestamptz '0001-01-01 00:00:00+00' AND timestamptz '9999-12-31 23:59:59.999+00') THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: run_at must be a time from 0001-01-01 to 9999-12-31, not %', due USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.timeout_ms IS NOT NULL AND enqueue.timeout_ms < 1 THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: timeout_ms must be positive or NULL, not %', enqueue.timeout_ms USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF limit_key IS NOT NULL AND (enqueue.concurrency_limit IS NULL
                        OR enqueue.concurrency_limit NOT BETWEEN 1 AND \(ConcurrencyLimit.maxLimit)) THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: concurrency_limit of key % must be from 1 to \(ConcurrencyLimit.maxLimit), not %',
                        limit_key, enqueue.concurrency_limit USING ERRCODE = 'invalid_parameter_value';
                END IF;
                SELECT r.queue, r.max_attempts INTO route_queue, route_attempts FROM \(s).routes AS r WHERE r.handler = enqueue.handler;
                IF chosen_queue IS NULL THEN
                    IF route_queue IS NULL THEN
                        RAISE EXCEPTION '\(schema.name).enqueue: no route for handler "%": no host has published one, and no queue was given', enqueue.handler
                            USING ERRCODE = 'invalid_parameter_value',
                                  HINT = 'Pass queue => ''<name>'', or run a host whose plugins provide this handler (host routes lists the published ones).';
                    END IF;
                    chosen_queue := route_queue;
                END IF;
                -- The route's attempts belong to its queue: a job sent elsewhere by hand keeps the
                -- old default.
                IF chosen_attempts IS NULL THEN
                    chosen_attempts := CASE WHEN chosen_queue = route_queue THEN route_attempts ELSE 10 END;
                END IF;
                -- Normally once. Again only when the key's holder finished between the insert and the
                -- look-up, or (in theory) a random id was taken.
                FOR try_number IN 1..10 LOOP
                    new_id := \(s).new_job_id();
                    INSERT INTO \(s).jobs (id, queue, state, run_at, max_attempts, timeout_ms, handler, unique_key, payload,
                                           concurrency_key, concurrency_limit)
                    VALUES (new_id, chosen_queue, CASE WHEN due > now() THEN 'scheduled' ELSE 'ready' END, due,
                            chosen_attempts, enqueue.timeout_ms, enqueue.handler, wanted_key, enqueue.payload::json,
                            limit_key, CASE WHEN limit_key IS NOT NULL THEN enqueue.concurrency_limit END)
                    ON CONFLICT DO NOTHING;
                    IF FOUND THEN
                        -- As wake_waiters does, inline: a nested call costs producers a third of
                        -- their rate.
                        PERFORM pg_advisory_xact_lock_shared(\(schema.wakeLockClass), hashtext(chosen_queue));
                        IF EXISTS (SELECT 1 FROM \(s).waiters AS w WHERE w.queue = chosen_queue AND w.until > now()) THEN
                            PERFORM pg_notify(\(schema.channelLiteral), chosen_queue);
                        END IF;
                        RETURN new_id;
                    END IF;
                    IF wanted_key IS NOT NULL THEN
                        SELECT j.id INTO holder FROM \(s).jobs AS j
                        WHERE j.queue = chosen_queue AND j.unique_key = wanted_key AND j.state IN ('ready', 'scheduled', 'running');
                        IF holder IS NOT NULL THEN
                            RETURN holder;
                        END IF;
                    END IF;
                END LOOP;
                RAISE EXCEPTION '\(schema.name).enqueue: could not insert the job (unique key %)', wanted_key USING ERRCODE = 'serialization_failure';
            END
            $function$;

            """
    }
}
