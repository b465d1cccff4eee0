import Foundation
import Backend

extension Migration {
    /// Concurrency keys (``ConcurrencyLimit``): two columns on jobs, the index the claim counts a key's
    /// running jobs with, `take_slot` (the claim's check under a per-key lock), `enqueue()` with two
    /// more optional parameters, and skipped fires in the schedule history.
    ///
    /// Its number is written only here: version 10 belongs to another change made at the same time, so
    /// whichever lands second keeps its own number (this one has no dependency on 10).
    static let concurrency = Migration(version: 11, name: "concurrency_keys") { schema in
        let s = schema.quoted
        let oldEnqueue = "\(s).enqueue(text, jsonb, text, timestamptz, integer, text, integer)"
        let newEnqueue = "\(s).enqueue(text, jsonb, text, timestamptz, integer, text, integer, text, integer)"
        return """
            -- Nullable without defaults: added in the catalog only, no table rewrite.
            ALTER TABLE \(s).jobs ADD COLUMN concurrency_key text COLLATE "C";
            ALTER TABLE \(s).jobs ADD COLUMN concurrency_limit integer;
            ALTER TABLE \(s).jobs ADD CONSTRAINT jobs_concurrency_check
                CHECK ((concurrency_key IS NULL) = (concurrency_limit IS NULL) AND concurrency_key <> ''
                       AND concurrency_limit BETWEEN 1 AND \(ConcurrencyLimit.maxLimit)) NOT VALID;

            -- The running jobs of each key, which the claim counts. Jobs without a key are not in it.
            CREATE INDEX jobs_concurrency ON \(s).jobs (queue, concurrency_key)
                WHERE concurrency_key IS NOT NULL AND state = 'running';

            -- Whether one more job of `key` may run, `ahead` being the jobs of the key before it in
            -- the same claim (1 for the first). Called by the claim for each keyed row it locked, in
            -- key order (so two claims never wait for each other's keys crosswise). The advisory lock,
            -- held until the claim's transaction ends, makes claims of one key take turns; the count
            -- is a statement of its own in a VOLATILE function, so it reads a snapshot taken after the
            -- lock and sees the jobs every earlier claim of the key leased. A lease that ends needs
            -- no bookkeeping: the job leaves the running state, and the count.
            CREATE FUNCTION \(s).take_slot(queue text, key text, key_limit integer, ahead bigint) RETURNS boolean
            LANGUAGE plpgsql VOLATILE
            SET search_path = pg_catalog, pg_temp
            AS $function$
            #variable_conflict use_column
            DECLARE
                running bigint;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtextextended(take_slot.queue || chr(31) || take_slot.key, 7101));
                SELECT count(*) INTO running FROM \(s).jobs AS j
                WHERE j.queue = take_slot.queue AND j.concurrency_key = take_slot.key AND j.state = 'running';
                RETURN running + ahead <= key_limit;
            END
            $function$;
            -- EXECUTE stays with PUBLIC: every claim statement names it, so a host role that is not the
            -- owner must be able to run it, and it runs with its caller's rights on jobs.

            -- enqueue() with two more optional parameters. Another overload beside the old one would
            -- make every call that leaves them out ambiguous, so the old one goes: the roles allowed
            -- to run it are read first and allowed to run the new one.
            CREATE TEMPORARY TABLE jobhost_enqueue_grants ON COMMIT DROP AS
                SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee
                FROM pg_proc AS p CROSS JOIN LATERAL aclexplode(p.proacl) AS a LEFT JOIN pg_roles AS r ON r.oid = a.grantee
                WHERE p.oid = '\(oldEnqueue)'::regprocedure AND a.privilege_type = 'EXECUTE';
            DROP FUNCTION \(oldEnqueue);

            -- Enqueues one job from SQL, inside the caller's transaction: the job exists if and only
            -- if that transaction commits, and idle hosts are woken (NOTIFY) only then. Returns the
            -- job's id; with a unique_key held by a pending or running job of the queue, that job's id,
            -- adding nothing. With a concurrency_key, at most concurrency_limit jobs of the queue with
            -- that key run at once. SECURITY DEFINER: an application role needs only USAGE on the
            -- schema and EXECUTE on this function, not rights on the tables.
            CREATE FUNCTION \(s).enqueue(
                handler text,
                payload jsonb,
                queue text DEFAULT 'default',
                run_at timestamptz DEFAULT now(),
                max_attempts integer DEFAULT 10,
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
                new_id text;
                holder text;
            BEGIN
                IF coalesce(enqueue.handler, '') = '' THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: handler must be a non-empty name' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF coalesce(enqueue.queue, '') = '' THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: queue must be a non-empty name' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.payload IS NULL THEN
                    RAISE EXCEPTION '\(schema.name).enqueue: payload must not be NULL (use ''null''::jsonb for a JSON null)' USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF enqueue.max_attempts IS NULL OR enqueue.max_attempts < 1 THEN
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
                -- Normally once. Again only when the key's holder finished between the insert and the
                -- look-up, or (in theory) a random id was taken.
                FOR try_number IN 1..10 LOOP
                    new_id := \(s).new_job_id();
                    INSERT INTO \(s).jobs (id, queue, state, run_at, max_attempts, timeout_ms, handler, unique_key, payload,
                                           concurrency_key, concurrency_limit)
                    VALUES (new_id, enqueue.queue, CASE WHEN due > now() THEN 'scheduled' ELSE 'ready' END, due,
                            enqueue.max_attempts, enqueue.timeout_ms, enqueue.handler, wanted_key, enqueue.payload::json,
                            limit_key, CASE WHEN limit_key IS NOT NULL THEN enqueue.concurrency_limit END)
                    ON CONFLICT DO NOTHING;
                    IF FOUND THEN
                        PERFORM pg_notify(\(schema.channelLiteral), enqueue.queue);
                        RETURN new_id;
                    END IF;
                    IF wanted_key IS NOT NULL THEN
                        SELECT j.id INTO holder FROM \(s).jobs AS j
                        WHERE j.queue = enqueue.queue AND j.unique_key = wanted_key AND j.state IN ('ready', 'scheduled', 'running');
                        IF holder IS NOT NULL THEN
                            RETURN holder;
                        END IF;
                    END IF;
                END LOOP;
                RAISE EXCEPTION '\(schema.name).enqueue: could not insert the job (unique key %)', wanted_key USING ERRCODE = 'serialization_failure';
            END
            $function$;
            REVOKE ALL ON FUNCTION \(newEnqueue) FROM PUBLIC;
            DO $grants$
            DECLARE
                role_name text;
            BEGIN
                FOR role_name IN SELECT DISTINCT g.grantee FROM jobhost_enqueue_grants AS g LOOP
                    EXECUTE 'GRANT EXECUTE ON FUNCTION \(newEnqueue.replacingOccurrences(of: "'", with: "''")) TO ' || role_name;
                END LOOP;
            END
            $grants$;

            -- A fire recorded without a job, because the run of job_id was still live (overlap: skip).
            ALTER TABLE \(s).schedule_fire_history ADD COLUMN skipped boolean NOT NULL DEFAULT false;
            """
    }
}
