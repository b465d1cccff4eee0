extension Migration {
    /// `enqueue` refuses a run time outside the times a job may hold (``JobFieldLimits``): `infinity`,
    /// `-infinity`, beyond the year 9999. A claim would move such a job to dead as unusable at once
    /// (or, for a time never due, rescue would); the caller hears it instead, in its own transaction.
    static let enqueueRunAtCheck = Migration(version: 5, name: "enqueue_run_at_check") { schema in
        let s = schema.quoted
        return """
            -- Enqueues one job from SQL, inside the caller's transaction: the job exists if and only
            -- if that transaction commits, and idle hosts are woken (NOTIFY) only then. Returns the
            -- job's id; with a unique_key held by a pending or running job of the queue, that job's id,
            -- adding nothing. SECURITY DEFINER: an application role needs only USAGE on the schema
            -- and EXECUTE on this function, not rights on the tables.
            CREATE OR REPLACE FUNCTION \(s).enqueue(
                handler text,
                payload jsonb,
                queue text DEFAULT 'default',
                run_at timestamptz DEFAULT now(),
                max_attempts integer DEFAULT 10,
                unique_key text DEFAULT NULL,
                timeout_ms integer DEFAULT NULL
            ) RETURNS text
            LANGUAGE plpgsql VOLATILE SECURITY DEFINER
            SET search_path = pg_catalog, pg_temp
            AS $function$
            #variable_conflict use_column
            DECLARE
                wanted_key constant text := nullif(enqueue.unique_key, '');
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
                -- Normally once. Again only when the key's holder finished between the insert and the
                -- look-up, or (in theory) a random id was taken.
                FOR try_number IN 1..10 LOOP
                    new_id := \(s).new_job_id();
                    INSERT INTO \(s).jobs (id, queue, state, run_at, max_attempts, timeout_ms, handler, unique_key, payload)
                    VALUES (new_id, enqueue.queue, CASE WHEN due > now() THEN 'scheduled' ELSE 'ready' END, due,
                            enqueue.max_attempts, enqueue.timeout_ms, enqueue.handler, wanted_key, enqueue.payload::json)
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

            """
    }
}
